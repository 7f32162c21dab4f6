package finalize

import "sync/atomic"

// Stats are a store's running totals since [NewStore], for monitoring (the admin API's
// /metrics serves them).
type Stats struct {
	// BlocksFinalized counts the [Store.Finalize] calls with [RealRun] whose batch was
	// committed (including those whose delivery then failed with error_policy halt).
	BlocksFinalized uint64
	// EventsProduced counts the events handed to the plugin manager (Broadcast,
	// BroadcastBatch): events held by an aborted batch or rewound are not counted.
	EventsProduced uint64
	// AbortedBatches counts the atomic batches rolled back whole: [Store.AbortAtomic]
	// calls inside a batch, including those [Store.Finalize] makes when fn fails, panics or
	// the mode is [DryRun].
	AbortedBatches uint64
}

// storeStats are the counters behind Stats, updated with atomic adds.
type storeStats struct {
	blocksFinalized atomic.Uint64
	eventsProduced  atomic.Uint64
	abortedBatches  atomic.Uint64
}

// Stats returns the store's counters.
//
// # Threading
//
// Three atomic loads: it may be called from any goroutine at any time (each counter is
// exact, the three are not read at one instant).
func (s *Store) Stats() Stats {
	return Stats{
		BlocksFinalized: s.stats.blocksFinalized.Load(),
		EventsProduced:  s.stats.eventsProduced.Load(),
		AbortedBatches:  s.stats.abortedBatches.Load(),
	}
}
