package host

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyBuckets is the number of buckets of a Latency histogram: bucket i counts calls
// that took less than 2^(i+minShift) ns (the last bucket counts everything slower).
const (
	latencyBuckets = 32
	minShift       = 6 // first bucket: < 64 ns
)

// Latency is a histogram of callback durations with power-of-two buckets, updated with
// atomic adds (no lock on the delivery path) and readable at any time.
type Latency struct {
	buckets [latencyBuckets]atomic.Uint64
	count   atomic.Uint64
	sumNs   atomic.Uint64
}

func (l *Latency) observe(d time.Duration) {
	ns := uint64(max(d, 0))
	i := 0
	if ns>>minShift > 0 {
		i = min(bits.Len64(ns>>minShift), latencyBuckets-1)
	}
	l.buckets[i].Add(1)
	l.count.Add(1)
	l.sumNs.Add(ns)
}

// BucketBound returns the upper bound of bucket i (exclusive).
func BucketBound(i int) time.Duration { return time.Duration(uint64(1) << (i + minShift)) }

// Snapshot returns a copy of the histogram.
func (l *Latency) Snapshot() LatencySnapshot {
	var s LatencySnapshot
	for i := range l.buckets {
		s.Buckets[i] = l.buckets[i].Load()
	}
	s.Count = l.count.Load()
	s.Sum = time.Duration(l.sumNs.Load())
	return s
}

// LatencySnapshot is a point-in-time copy of a Latency histogram.
type LatencySnapshot struct {
	Buckets [latencyBuckets]uint64 // Buckets[i]: calls shorter than BucketBound(i) and not shorter than BucketBound(i-1)
	Count   uint64
	Sum     time.Duration
}

// Quantile estimates the q-quantile (0 < q <= 1) by linear interpolation inside the
// bucket that holds it; 0 when there were no calls.
func (s LatencySnapshot) Quantile(q float64) time.Duration {
	var total uint64
	for _, c := range s.Buckets {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen uint64
	for i, c := range s.Buckets {
		if c == 0 {
			continue
		}
		if float64(seen+c) >= rank {
			lo := time.Duration(0)
			if i > 0 {
				lo = BucketBound(i - 1)
			}
			hi := BucketBound(i)
			frac := (rank - float64(seen)) / float64(c)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		seen += c
	}
	return BucketBound(latencyBuckets - 1)
}

// Counters are one plugin's delivery statistics. They are cumulative over the plugin's
// life in the manager: a reload keeps them (and counts itself in Reloads).
//
// Every event of a subscribed kind broadcast while the plugin is loaded is either
// delivered (Events) or counted in Undelivered by the cause that kept it from the plugin;
// Dropped is their sum. (Events still waiting in the async queue or a reload's buffer are
// in neither yet; QueueDepth counts the queue's.)
type Counters struct {
	Events      uint64      // events handed to the plugin's callbacks (including those whose callback failed)
	ByKind      [4]uint64   // Events split by abi.EventKind
	Calls       uint64      // callback invocations (a batch is one)
	Errors      uint64      // failed callbacks (a failed batch call is one)
	Dropped     uint64      // subscribed events not delivered: the sum of Undelivered
	Undelivered Undelivered // Dropped split by cause
	Reloads     uint64      // successful reloads (ReloadPlugin) of this plugin
	Restarts    uint64      // restarts of the plugin's child process after it crashed, exited or hung (isolation "process")
	// RestartCause is why the child process last restarted ("signal SIGSEGV", "exit status
	// 3", "no answer in 30s"); "" if it never did.
	RestartCause string
	Skipped      uint64 // events below the plugin's resume height: it has them already (not lost, not in Dropped)
	// GapHeights counts heights (not events: the host never saw them) that the plugin
	// needed from the journal (at or above its resume height) and the journal no longer
	// held: its window had moved on (SPEC §8's "journal gap"). Each gap is also logged with
	// its first and last height.
	GapHeights uint64
	Suppressed uint64          // callback-failure warnings not logged by the rate limiter (one line per second)
	QueueDepth int             // events waiting in the async queue
	Latency    LatencySnapshot // durations of the broadcast callbacks
	LastError  string          // the last failed delivery's *CallbackError text, "" if none
	LastErrAt  time.Time       // when it happened
	_          [0]func()       // not comparable
}

// Undelivered counts a plugin's subscribed events that it did not get, by cause.
type Undelivered struct {
	QueueFull      uint64 // async queue full with on_full "drop"
	Disabled       uint64 // error_policy disable tripped (including the rest of the batch that tripped it)
	DrainTimeout   uint64 // left in the async queue when drain_timeout ran out at unload
	ReloadOverflow uint64 // broadcast during a reload while its bounded buffer was full (on_full "drop")
	Failed         uint64 // after error_policy halt marked the plugin failed (async)
}

// events is the number of events delivered, of all kinds: one counter less to update per
// delivery.
func (c *counters) events() uint64 {
	var n uint64
	for k := range c.byKind {
		n += c.kind(k)
	}
	return n
}

// kind is the number of events of kind k delivered.
func (c *counters) kind(k int) uint64 { return c.byKind[k].Load() + c.oneByKind[k].Load() }

// callCount is the number of callback invocations.
func (c *counters) callCount() uint64 {
	n := c.calls.Load()
	for k := range c.oneByKind {
		n += c.oneByKind[k].Load()
	}
	return n
}

// Total is the sum of every cause.
func (u Undelivered) Total() uint64 {
	return u.QueueFull + u.Disabled + u.DrainTimeout + u.ReloadOverflow + u.Failed
}

// counters are a slot's live statistics (atomic: read at any time without a lock).
type counters struct {
	byKind [4]atomic.Uint64 // events delivered, by kind (their sum: events; see kind)
	calls  atomic.Uint64    // callback invocations (see callCount)
	// oneByKind counts the single-event path's deliveries (single.go), by kind: one call
	// each, counted in neither byKind nor calls, so that the path pays one atomic add, not
	// two (~4.6 ns each here, a third of the path's own cost).
	oneByKind    [4]atomic.Uint64
	errors       atomic.Uint64
	undelivered  [numCauses]atomic.Uint64 // by cause; causeNone stays 0
	reloads      atomic.Uint64
	restarts     atomic.Uint64
	restartCause atomic.Pointer[string]
	skipped      atomic.Uint64
	gapHeights   atomic.Uint64
	suppressed   atomic.Uint64
	latency      Latency
	lastErr      atomic.Pointer[lastError]
}

// undeliveredSnapshot reads the undelivered counts.
func (c *counters) undeliveredSnapshot() Undelivered {
	return Undelivered{
		QueueFull:      c.undelivered[causeQueueFull].Load(),
		Disabled:       c.undelivered[causeDisabled].Load(),
		DrainTimeout:   c.undelivered[causeDrainTimeout].Load(),
		ReloadOverflow: c.undelivered[causeReloadOverflow].Load(),
		Failed:         c.undelivered[causeFailed].Load(),
	}
}

type lastError struct {
	msg string
	at  time.Time
}
