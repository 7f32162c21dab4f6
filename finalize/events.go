package finalize

import (
	"fmt"
	"runtime"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/hostlink"
	"github.com/slipstream-go/slipstream/internal/keyindex"
)

// broadcaster is what the store needs from a plugin manager; *host.Manager implements it.
// Tests install a recorder through setBroadcaster.
type broadcaster interface {
	HasSubscribers(abi.EventKind) bool
	Broadcast(abi.Event) error
	BroadcastBatch([]abi.Event) error
}

var _ broadcaster = (*host.Manager)(nil)

// sink boxes the broadcaster so that it sits in an atomic.Pointer: the hot path loads it
// without a lock. m is the same broadcaster when it is a *host.Manager, so that the hot
// path calls HasSubscribers directly (inlined: one atomic load) rather than through the
// interface, and arena is then its delivery of a held batch as the store wrote it
// (internal/hostlink); without it a batch goes to BroadcastBatch.
type sink struct {
	b     broadcaster
	m     *host.Manager
	arena func(*cabi.Arena) error
}

// SetSlipstream turns event production on or off (on by default). Off, the store produces
// and delivers nothing, including the events a batch in progress already holds.
//
// # Threading
//
// One atomic store: it may be called from any goroutine at any time.
func (s *Store) SetSlipstream(on bool) { s.enabled.Store(on) }

// IsSlipstreamEnabled reports the setting of [Store.SetSlipstream].
func (s *Store) IsSlipstreamEnabled() bool { return s.enabled.Load() }

// SetSlipstreamPluginManager installs the plugin manager that receives the store's events.
// The first call with a non-nil manager wins; a later call (or a nil manager) logs a warning
// and changes nothing, so that a plugin cannot be fed by two managers.
//
// # Threading
//
// One compare-and-swap: it may be called from any goroutine at any time; events produced
// before it returns may miss the manager.
func (s *Store) SetSlipstreamPluginManager(m *host.Manager) {
	if m == nil {
		s.log.Warn().Msg("finalize: SetSlipstreamPluginManager(nil) ignored")
		return
	}
	s.install(&sink{b: m, m: m, arena: hostlink.Arena(m)})
}

// PluginManager returns the installed plugin manager, or nil.
func (s *Store) PluginManager() *host.Manager {
	if sk := s.sink.Load(); sk != nil {
		return sk.m
	}
	return nil
}

func (s *Store) install(sk *sink) bool {
	if s.sink.CompareAndSwap(nil, sk) {
		return true
	}
	s.log.Warn().Msg("finalize: a Slipstream plugin manager is already installed; the new one is ignored")
	return false
}

// subscribed returns the broadcaster if Slipstream is on, a manager is installed and a
// plugin subscribes to kind; nil otherwise. Atomic loads only: no lock, no allocation.
func (s *Store) subscribed(kind abi.EventKind) broadcaster {
	if !s.enabled.Load() {
		return nil
	}
	sk := s.sink.Load()
	if sk == nil {
		return nil
	}
	if sk.m != nil {
		if !sk.m.HasSubscribers(kind) {
			return nil
		}
	} else if !sk.b.HasSubscribers(kind) {
		return nil
	}
	return sk.b
}

// mappingSink is subscribed for a mapping write made now; s.mu is held.
func (s *Store) mappingSink(kind abi.EventKind) broadcaster {
	if !s.canonicalLocked() {
		return nil
	}
	return s.subscribed(kind)
}

// deliver hands one event made of the caller's borrowed slices to the manager, right after
// the write (no lock held). The manager copies what it keeps.
func (s *Store) deliver(op string, b broadcaster, ev abi.Event) error {
	s.stats.eventsProduced.Add(1)
	if err := b.Broadcast(ev); err != nil {
		return fmt.Errorf("finalize: %s: %w: %w", op, ErrDelivery, err)
	}
	return nil
}

func (s *Store) deliverBatch(op string, b broadcaster, evs []abi.Event) error {
	s.stats.eventsProduced.Add(uint64(len(evs)))
	if err := b.BroadcastBatch(evs); err != nil {
		return fmt.Errorf("finalize: %s: %w: %w", op, ErrDelivery, err)
	}
	return nil
}

// Phases of a block: held events are delivered phase by phase.
const (
	phaseMapping = iota
	phaseStaking
	phaseBlock
	phaseCount
)

// heldEvents are the events of a batch, waiting for FinishAtomic. They are written as they
// happen, once, into C memory in the ABI's layout: one [cabi.Arena] per phase (the staking
// and block phases' only once they hold an event). At commit the later phases' event
// structs are appended to the mapping phase's, and that one array is what the C plugins
// read (internal/hostlink): the store's copy of the caller's bytes is the only one, and
// the undo log's records of single-key writes point at it too (undoWrite).
type heldEvents struct {
	phases [phaseCount]*cabi.Arena
}

// heldMark is a position in heldEvents, taken by a checkpoint.
type heldMark [phaseCount]cabi.Mark

func newHeldEvents() *heldEvents {
	h := &heldEvents{}
	h.arena(phaseMapping)
	return h
}

// arena returns the arena of phase, allocating it on first use. Its memory (outside the Go
// heap) is released when h is collected.
func (h *heldEvents) arena(phase int) *cabi.Arena {
	a := h.phases[phase]
	if a == nil {
		a = cabi.NewArena()
		runtime.AddCleanup(h, (*cabi.Arena).Free, a)
		h.phases[phase] = a
	}
	return a
}

func (h *heldEvents) mark() heldMark {
	var m heldMark
	if h == nil {
		return m
	}
	for i, a := range h.phases {
		if a != nil {
			m[i] = a.Mark()
		}
	}
	return m
}

// truncate drops the events held after m. A phase whose arena did not exist when m was
// taken held nothing then: its zero Mark empties it.
func (h *heldEvents) truncate(m heldMark) {
	if h == nil {
		return
	}
	for i, a := range h.phases {
		if a != nil {
			a.Truncate(m[i])
		}
	}
}

func (h *heldEvents) reset() {
	for _, a := range h.phases {
		if a != nil {
			a.Reset()
		}
	}
}

// ordered returns the held events in delivery order, mapping events, staking rewards,
// block, in the mapping phase's arena (the others' event structs appended to it, pointing
// at their own payload); h is reset afterwards.
func (h *heldEvents) ordered() *cabi.Arena {
	out := h.phases[phaseMapping]
	for _, a := range h.phases[phaseMapping+1:] {
		if a != nil {
			out.AppendFrom(a)
		}
	}
	return out
}

// hold appends ev, its bytes copied, to the batch's events of phase; s.mu is held.
func (s *Store) hold(phase int, ev abi.Event) { s.heldArena(phase).Append(&ev) }

// heldArena returns the batch's arena for phase, taking the spare buffers (or new ones)
// for the batch's first event; s.mu is held.
func (s *Store) heldArena(phase int) *cabi.Arena {
	h := s.held
	if h == nil {
		if h = s.spare; h != nil {
			s.spare = nil
		} else {
			h = newHeldEvents()
		}
		s.held = h
	}
	return h.arena(phase)
}

// releaseHeldLocked drops the batch's held events and keeps the buffers for the next batch.
func (s *Store) releaseHeldLocked() {
	if s.held == nil {
		return
	}
	s.held.reset()
	if s.spare == nil {
		s.spare = s.held
	}
	s.held = nil
}

// NotifyStakingRewards reports the staking rewards distributed in the block at height:
// current is the staker set before the distribution, next the set after it.
//
// Canonical only (inside [Store.Finalize] with [RealRun], or with [Store.SetCanonical]):
// one StakingReward event per staker of current, in the order of current, with the
// validator and new_stake of that staker's entry in next and reward = next stake − current
// stake (0 if the stake shrank: saturating). A staker missing from next keeps its current
// validator and stake, with reward 0; a staker only in next gets no event. Stakers are
// matched by Address (the first entry of next wins). These are snarkVM's rules.
//
// Inside a batch the events are held and delivered at [Store.FinishAtomic] after all the
// batch's mapping events, wherever in the batch this is called. Outside a batch they are
// delivered at once. A delivery error (only a plugin with error_policy halt) is logged;
// inside a batch it is returned by FinishAtomic.
//
// # Memory
//
// With no plugin subscribed to StakingReward it returns after a few atomic loads: no lock,
// no allocation, nothing computed.
func (s *Store) NotifyStakingRewards(current, next []Staker, height uint32) {
	if len(current) == 0 || s.subscribed(abi.StakingReward) == nil {
		return
	}
	// next's addresses indexed on the stack: no map, no address copied into a string
	var mem [keyindex.Stack]int32
	idx, _, _ := keyindex.New(len(next), func(i int) []byte { return next[i].Address }, mem[:])
	s.mu.Lock()
	b := s.mappingSink(abi.StakingReward)
	if b == nil {
		s.mu.Unlock()
		return
	}
	if s.inAtomic {
		for _, c := range current {
			s.hold(phaseStaking, stakingEvent(c, next, &idx, height))
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	evs := make([]abi.Event, len(current))
	for i, c := range current {
		evs[i] = stakingEvent(c, next, &idx, height)
	}
	if err := s.deliverBatch("notify_staking_rewards", b, evs); err != nil {
		s.log.Error().Err(err).Uint32("height", height).Msg("finalize: delivering staking rewards failed")
	}
}

// stakingEvent is the StakingReward of c, a staker of the current set, with idx indexing
// next's addresses; its byte fields borrow c's and next's slices.
func stakingEvent(c Staker, next []Staker, idx *keyindex.Index, height uint32) abi.Event {
	ev := abi.Event{
		Kind: abi.StakingReward, BlockHeight: height,
		Staker: c.Address, Validator: c.Validator, NewStake: c.Stake,
	}
	if i := idx.Find(c.Address); i >= 0 { // the first entry of next with the address
		n := next[i]
		ev.Validator, ev.NewStake = n.Validator, n.Stake
		if n.Stake > c.Stake {
			ev.Reward = n.Stake - c.Stake
		}
	}
	return ev
}

// NotifyBlock reports that the block at height was committed; block is its encoding.
//
// It does not need a canonical finalization, only a mode other than [DryRun]. The usual
// call is inside [Store.Finalize]'s fn, after the block's writes: the event is then held
// with the block's other events and delivered last at [Store.FinishAtomic], so an aborted
// block gets no Block event, and a failed delivery is returned by Finalize; NotifyBlock
// itself returns nil there. Outside a batch (for example after Finalize returned nil) it is
// delivered at once, and its error is the plugin manager's: nil unless a plugin with
// error_policy halt failed on it, then that error wrapped with [ErrDelivery] (stop the node).
// Never call it after a Finalize that returned an error: that block was not committed.
//
// # Memory
//
// With no plugin subscribed to Block it returns after a few atomic loads: no lock, no
// allocation. Outside a batch block is passed to the manager without a copy.
func (s *Store) NotifyBlock(block []byte, height uint32) error {
	if s.subscribed(abi.Block) == nil {
		return nil
	}
	ev := abi.Event{Kind: abi.Block, BlockHeight: height, Block: block}
	s.mu.Lock()
	b := s.subscribed(abi.Block)
	if b == nil || s.mode == DryRun {
		s.mu.Unlock()
		return nil
	}
	if s.inAtomic {
		s.hold(phaseBlock, ev)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.deliver("notify_block", b, ev); err != nil {
		return fmt.Errorf("%w (block %d)", err, height)
	}
	return nil
}
