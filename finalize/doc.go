// Package finalize is the finalize store a Go node embeds: the program → mapping → key →
// value state with snarkVM's operations and atomic batches, which feeds every canonical
// change to Slipstream plugins through a [host.Manager].
//
// # Wiring it into a node
//
//	mgr, err := host.FromConfigFiles(pluginConfigs, host.WithLogger(log)) // or host.NewManager()
//	if err != nil { … }
//	defer mgr.Unload() // at shutdown: on_unload, destroy, close, after in-flight callbacks
//
//	store := finalize.NewStore(finalize.WithLogger(log)) // WithStorage(db) for your own backend
//	store.SetSlipstreamPluginManager(mgr)                 // once; a second call is ignored
//
//	for each block b to commit:
//	    err := store.Finalize(b.Height, finalize.RealRun, func() error {
//	        // the block's writes: InitializeMapping, UpdateKeyValue, RemoveKeyValue, …,
//	        // with AtomicCheckpoint/AtomicRewind around each transaction that may fail
//	        store.NotifyStakingRewards(b.StakersBefore, b.StakersAfter, b.Height)
//	        return store.NotifyBlock(b.Bytes, b.Height) // held: delivered last, with the batch
//	        // any error returned aborts the block: state rolled back, nothing delivered
//	    })
//	    if err != nil {
//	        // fn's error (the block was aborted, no plugin saw any of it), or a plugin with
//	        // error_policy halt failed on one of the block's events (the block is committed):
//	        // errors.Is(err, finalize.ErrDelivery); stop the node
//	    }
//
// NotifyBlock belongs inside fn: the Block event is then part of the block's batch, so an
// aborted block gets none and a halt-policy plugin's failure on it is returned by Finalize.
// A node that calls NotifyBlock after Finalize instead must do so only when Finalize
// returned nil, and check NotifyBlock's own error (nil unless a halt-policy plugin failed).
//
// Speculation (proposing or checking a block) runs Finalize with [DryRun]: the batch is
// always rolled back and no plugin sees anything.
//
// # What the plugins see
//
// Mapping events (MappingUpdate, MappingRemoval) and StakingReward events are produced only
// by a canonical finalization: inside [Store.Finalize] with [RealRun], or while
// [Store.SetCanonical] is on with mode RealRun (for nodes that drive StartAtomic/FinishAtomic
// themselves). Writes outside it change the state silently, as in snarkVM.
//
// Events of a batch are held and delivered when it finishes, as one batch (one
// on_broadcast_batch call for a C plugin that has it; the store holds the events in the C
// layout, so the manager does not encode them again):
// first the mapping events in write order, then the staking rewards, then the Block event
// (when NotifyStakingRewards or NotifyBlock are called inside the batch, their events are
// placed there whatever the order of the calls). [Store.AtomicRewind] drops the events
// after the checkpoint, [Store.AbortAtomic] drops them all: plugins never see a write that
// was rolled back. A canonical write outside a batch is delivered right after it, with
// Broadcast. NotifyBlock outside a batch delivers at once and returns the delivery error.
// [Store.SetSlipstream](false) silences everything.
//
// A kind no plugin subscribes to costs nothing: the store asks HasSubscribers (one atomic
// load) before building or copying an event, and without a manager it does not even ask.
//
// # Threading
//
// Getters are safe on any goroutine while one goroutine finalizes; see [Store].
package finalize
