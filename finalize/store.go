package finalize

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// Entry is one key-value pair of a mapping, both the node's byte encodings.
type Entry struct{ Key, Value []byte }

// Staker is one entry of a staker set given to [Store.NotifyStakingRewards]: the staker's
// address, the validator it is bonded to (both the node's encodings) and its stake in microcredits.
type Staker struct {
	Address, Validator []byte
	Stake              uint64
}

// Mode is the finalize mode, as in snarkVM's FinalizeMode.
type Mode int

const (
	// RealRun finalizes for real: a canonical block's changes, observed by the plugins.
	RealRun Mode = iota
	// DryRun finalizes speculatively: never observed by the plugins; [Store.Finalize] rolls it back.
	DryRun
)

// String returns "RealRun", "DryRun" or "Mode(N)".
func (m Mode) String() string {
	switch m {
	case RealRun:
		return "RealRun"
	case DryRun:
		return "DryRun"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Option configures a [Store] in [NewStore].
type Option func(*Store)

// WithStorage makes the store keep its state in s instead of a fresh [MemoryStorage].
// A nil s keeps the default.
func WithStorage(s Storage) Option {
	return func(st *Store) {
		if s != nil {
			st.storage = s
		}
	}
}

// WithLogger sets the logger the store writes its warnings (a second plugin manager, a
// failed delivery outside a batch, a failed rollback) to. The default is zerolog's global
// logger (github.com/rs/zerolog/log.Logger, stderr), so that no failure goes unseen; pass
// zerolog.Nop() to discard them.
func WithLogger(l zerolog.Logger) Option { return func(st *Store) { st.log = l } }

// Store is the finalize store a Go node embeds: the program → mapping → key → value state
// with snarkVM's operations and atomic batches, which turns every canonical change into
// events for the plugins of a [host.Manager]. See the package documentation for the wiring
// and the delivery rules.
//
// # Threading
//
// All methods are safe for concurrent use: the state sits behind a read-write lock, so
// getters ([Store.GetValue], [Store.Entries], …) may run on any goroutine while one goroutine
// finalizes. Mutations, batches and [Store.Finalize] are meant to come from one goroutine at
// a time (a node finalizes blocks in sequence): concurrent writers do not corrupt the state,
// but the order in which their events reach the plugins is then unspecified, and a batch is
// shared by every goroutine that writes while it is in progress.
//
// Plugins are called (Broadcast, BroadcastBatch) without the state lock held, so a slow
// plugin delays the finalizing goroutine but never the readers.
//
// # Memory
//
// Byte slices passed in are borrowed for the call: the store copies what it keeps (state,
// undo log, held events), so callers may reuse their buffers. Slices returned by getters
// are fresh copies owned by the caller.
type Store struct {
	storage Storage
	log     zerolog.Logger

	sink    atomic.Pointer[sink] // the plugin manager; nil: none installed
	enabled atomic.Bool          // SetSlipstream
	height  atomic.Uint32        // current block height, stamped on mapping events

	mu        sync.RWMutex
	mode      Mode
	canonical bool // the explicit canonical flag (SetCanonical, Finalize with RealRun)

	// The atomic batch, under mu.
	inAtomic    bool
	undo        []undoRec
	undoArena   []byte // program, mapping and key copies of the undo records
	checkpoints []checkpoint
	held        *heldEvents // events held for FinishAtomic; nil until the batch holds one
	spare       *heldEvents // a delivered batch's buffers, reused by the next

	stats storeStats // Stats (stats.go)
}

// NewStore returns an empty store, in-memory unless [WithStorage] says otherwise, in mode
// [RealRun] but not canonical, with Slipstream enabled and no plugin manager.
func NewStore(opts ...Option) *Store {
	s := &Store{log: zlog.Logger}
	for _, o := range opts {
		o(s)
	}
	if s.storage == nil {
		s.storage = NewMemoryStorage()
	}
	s.enabled.Store(true)
	return s
}

// Storage returns the backend that holds the state.
func (s *Store) Storage() Storage { return s.storage }

// CurrentBlockHeight returns the block height stamped on mapping events.
func (s *Store) CurrentBlockHeight() uint32 { return s.height.Load() }

// SetCurrentBlockHeight sets the block height stamped on the mapping events of the writes
// that follow. [Store.Finalize] sets it for its block.
func (s *Store) SetCurrentBlockHeight(height uint32) { s.height.Store(height) }

// FinalizeMode returns the current finalize mode.
func (s *Store) FinalizeMode() Mode {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mode
}

// SetFinalizeMode sets the finalize mode for the writes that follow: in [DryRun] no write
// produces an event. [Store.Finalize] sets it for its block and restores it afterwards.
func (s *Store) SetFinalizeMode(mode Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

// SetCanonical is the low-level switch for nodes that drive batches themselves instead of
// calling [Store.Finalize]: while it is on and the mode is [RealRun], mapping writes and
// [Store.NotifyStakingRewards] produce events (held until [Store.FinishAtomic] inside a batch,
// delivered right after the write outside one). Turn it on only around the finalization
// of a block that is being committed, never around speculation.
// [Store.Finalize] sets it for its block and restores it afterwards.
func (s *Store) SetCanonical(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canonical = on
}

// IsCanonical reports whether writes made now produce mapping and staking events: the
// canonical flag is on and the mode is [RealRun].
func (s *Store) IsCanonical() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.canonicalLocked()
}

func (s *Store) canonicalLocked() bool { return s.canonical && s.mode == RealRun }

// InitializeMapping creates an empty mapping. It fails with [ErrMappingExists] if the
// mapping already exists. It produces no event.
func (s *Store) InitializeMapping(program, mapping []byte) error {
	const op = "initialize_mapping"
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, err := s.storage.ContainsMapping(program, mapping)
	if err != nil {
		return storageErr(op, program, mapping, err)
	}
	if ok {
		return opErr(op, program, mapping, nil, ErrMappingExists)
	}
	if err := s.storage.CreateMapping(program, mapping); err != nil {
		return storageErr(op, program, mapping, err)
	}
	if s.inAtomic {
		s.recordUndo(undoCreate, program, mapping, nil, nil, false, nil)
	}
	return nil
}

// InsertKeyValue stores a new key-value pair. It fails with [ErrMappingNotFound] if the
// mapping is not initialized and with [ErrKeyExists] if the key is already there.
// Canonical: one MappingUpdate event.
func (s *Store) InsertKeyValue(program, mapping, key, value []byte) error {
	return s.putKV("insert_key_value", true, program, mapping, key, value)
}

// UpdateKeyValue stores a key-value pair, inserting the key or overwriting its value. It
// fails with [ErrMappingNotFound] if the mapping is not initialized.
// Canonical: one MappingUpdate event.
//
// # Memory
//
// With no plugin subscribed to MappingUpdate it costs what the storage write costs (one
// allocation, the value's copy, for an overwrite in [MemoryStorage]) plus, inside a batch,
// an amortized append to the undo log.
func (s *Store) UpdateKeyValue(program, mapping, key, value []byte) error {
	return s.putKV("update_key_value", false, program, mapping, key, value)
}

func (s *Store) putKV(op string, insert bool, program, mapping, key, value []byte) error {
	e := cabi.MappingEvent{Kind: abi.MappingUpdate, Program: program, Mapping: mapping, Key: key, Value: value}
	return s.write(op, &e, func(hold bool) (bool, error) {
		if err := s.mappingExists(op, program, mapping); err != nil {
			return false, err
		}
		var old []byte
		var had bool
		var err error
		if insert || s.inAtomic {
			if old, had, err = s.storage.Get(program, mapping, key); err != nil {
				return false, storageErr(op, program, mapping, err)
			}
			if insert && had {
				return false, opErr(op, program, mapping, key, ErrKeyExists)
			}
		}
		if err := s.storage.Put(program, mapping, key, value); err != nil {
			return false, storageErr(op, program, mapping, err)
		}
		if s.inAtomic {
			s.undoWrite(hold, &e, old, had)
		}
		return true, nil
	})
}

// mappingEvent is the abi.Event of e, a single mapping write's event in parts (which a
// batch holds as they are: this is for a delivery outside one).
func mappingEvent(height uint32, e *cabi.MappingEvent) abi.Event {
	if e.Kind == abi.MappingUpdate {
		return updateEvent(height, e.Program, e.Mapping, e.Key, e.Value)
	}
	return removalEvent(height, e.Program, e.Mapping, e.Key, e.HasKey)
}

// write runs a single-event write under the state lock, then emits its event e: held with
// the batch in progress, or delivered right after the lock is released, or — when nobody
// subscribed to its kind, or the write is not canonical — never built. locked makes the
// write and reports whether it changed anything (false: no event); with hold (inside a
// batch, subscribed) it holds the event when it changed something, [Store.undoWrite] doing
// so for a single key's write.
func (s *Store) write(op string, e *cabi.MappingEvent, locked func(hold bool) (bool, error)) error {
	b, err := func() (broadcaster, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		b := s.mappingSink(e.Kind)
		if changed, err := locked(b != nil && s.inAtomic); !changed || err != nil || s.inAtomic {
			return nil, err
		}
		return b, nil
	}()
	if b == nil || err != nil {
		return err
	}
	return s.deliver(op, b, mappingEvent(s.height.Load(), e))
}

// mappingExists fails with ErrMappingNotFound (or a storage error) unless the mapping is
// initialized. s.mu is held.
func (s *Store) mappingExists(op string, program, mapping []byte) error {
	ok, err := s.storage.ContainsMapping(program, mapping)
	if err != nil {
		return storageErr(op, program, mapping, err)
	}
	if !ok {
		return opErr(op, program, mapping, nil, ErrMappingNotFound)
	}
	return nil
}

// RemoveKeyValue removes a key. It fails with [ErrMappingNotFound] if the mapping is not
// initialized; removing a key that is not there is no error and produces no event.
// Canonical: one MappingRemoval event with the key.
func (s *Store) RemoveKeyValue(program, mapping, key []byte) error {
	const op = "remove_key_value"
	e := cabi.MappingEvent{Kind: abi.MappingRemoval, Program: program, Mapping: mapping, Key: key, HasKey: true}
	return s.write(op, &e, func(hold bool) (bool, error) {
		if err := s.mappingExists(op, program, mapping); err != nil {
			return false, err
		}
		old, had, err := s.storage.Get(program, mapping, key)
		if err != nil || !had {
			return false, storageErrOrNil(op, program, mapping, err)
		}
		if err := s.storage.Delete(program, mapping, key); err != nil {
			return false, storageErr(op, program, mapping, err)
		}
		if s.inAtomic {
			s.undoWrite(hold, &e, old, true)
		}
		return true, nil
	})
}

func removalEvent(height uint32, program, mapping, key []byte, hasKey bool) abi.Event {
	return abi.Event{
		Kind: abi.MappingRemoval, BlockHeight: height,
		ProgramID: program, MappingName: mapping, Key: key, HasKey: hasKey,
	}
}

// ReplaceMapping replaces all entries of a mapping with entries (a later duplicate key
// wins). It fails with [ErrMappingNotFound] if the mapping is not initialized.
//
// Canonical: first one MappingRemoval (with its key) per key of the old mapping that
// entries does not contain, in the old mapping's order, then one MappingUpdate per element
// of entries, in order (a duplicate key gets an update per occurrence). A key that stays
// gets no removal, only its update. This is snarkVM's rule; a plugin that keeps history
// thus sees every key that the replacement dropped.
//
// The old mapping's order is the order of [Storage.Entries]: bytewise key order, which
// depends only on the mapping's contents, never on the order the keys were written in
// (snarkVM's in-memory IndexMap keeps insertion order, its RocksDB backend the order of
// the keys' encodings; both list the removals before the updates, as here).
//
// # Memory
//
// With a plugin subscribed to MappingRemoval, the old entries are listed and a set of the
// new keys is built (allocations in proportion to both); without one, neither.
func (s *Store) ReplaceMapping(program, mapping []byte, entries []Entry) error {
	const op = "replace_mapping"
	var upd, rem broadcaster
	var dropped [][]byte // the old keys that entries does not contain, in the old order
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.mappingExists(op, program, mapping); err != nil {
			return err
		}
		upd, rem = s.mappingSink(abi.MappingUpdate), s.mappingSink(abi.MappingRemoval)
		var old []Entry
		if rem != nil || s.inAtomic {
			var err error
			if old, err = s.storage.Entries(program, mapping); err != nil {
				return storageErr(op, program, mapping, err)
			}
		}
		if rem != nil && len(old) > 0 {
			dropped = droppedKeys(old, entries)
		}
		if err := s.storage.DropMapping(program, mapping); err != nil {
			return storageErr(op, program, mapping, err)
		}
		if s.inAtomic {
			s.recordUndo(undoDrop, program, mapping, nil, nil, false, old)
		}
		if err := s.storage.CreateMapping(program, mapping); err != nil {
			return storageErr(op, program, mapping, err)
		}
		if s.inAtomic {
			// Undoing the re-creation drops the mapping with every new entry, so the puts
			// below need no undo records of their own.
			s.recordUndo(undoCreate, program, mapping, nil, nil, false, nil)
		}
		for _, e := range entries {
			if err := s.storage.Put(program, mapping, e.Key, e.Value); err != nil {
				return storageErr(op, program, mapping, err)
			}
		}
		if (upd != nil || rem != nil) && s.inAtomic {
			h := s.height.Load()
			for _, k := range dropped {
				s.hold(phaseMapping, removalEvent(h, program, mapping, k, true))
			}
			if upd != nil {
				for _, e := range entries {
					s.hold(phaseMapping, updateEvent(h, program, mapping, e.Key, e.Value))
				}
			}
			upd, rem = nil, nil
		}
		return nil
	}()
	if err != nil || (upd == nil && rem == nil) {
		return err
	}
	h := s.height.Load()
	n := len(dropped)
	if upd != nil {
		n += len(entries)
	}
	if n == 0 {
		return nil
	}
	evs := make([]abi.Event, 0, n)
	b := upd
	for _, k := range dropped {
		evs, b = append(evs, removalEvent(h, program, mapping, k, true)), rem
	}
	if upd != nil {
		for _, e := range entries {
			evs = append(evs, updateEvent(h, program, mapping, e.Key, e.Value))
		}
	}
	return s.deliverBatch(op, b, evs)
}

// droppedKeys returns the keys of old that entries does not contain, in the order of old.
// The slices are old's.
func droppedKeys(old, entries []Entry) [][]byte {
	keep := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		keep[string(e.Key)] = struct{}{}
	}
	var out [][]byte
	for _, e := range old {
		if _, ok := keep[string(e.Key)]; !ok {
			out = append(out, e.Key)
		}
	}
	return out
}

func updateEvent(height uint32, program, mapping, key, value []byte) abi.Event {
	return abi.Event{
		Kind: abi.MappingUpdate, BlockHeight: height,
		ProgramID: program, MappingName: mapping, Key: key, Value: value,
	}
}

// dropMappingLocked drops an existing mapping, recording its entries for the undo log
// when a batch is in progress.
func (s *Store) dropMappingLocked(op string, program, mapping []byte) error {
	var entries []Entry
	if s.inAtomic {
		var err error
		if entries, err = s.storage.Entries(program, mapping); err != nil {
			return storageErr(op, program, mapping, err)
		}
	}
	if err := s.storage.DropMapping(program, mapping); err != nil {
		return storageErr(op, program, mapping, err)
	}
	if s.inAtomic {
		s.recordUndo(undoDrop, program, mapping, nil, nil, false, entries)
	}
	return nil
}

// RemoveMapping removes a mapping and all its entries. It fails with [ErrMappingNotFound]
// if the mapping is not initialized.
// Canonical: one MappingRemoval event without key.
func (s *Store) RemoveMapping(program, mapping []byte) error {
	const op = "remove_mapping"
	e := cabi.MappingEvent{Kind: abi.MappingRemoval, Program: program, Mapping: mapping}
	return s.write(op, &e, func(hold bool) (bool, error) {
		if err := s.mappingExists(op, program, mapping); err != nil {
			return false, err
		}
		if err := s.dropMappingLocked(op, program, mapping); err != nil {
			return true, err
		}
		if hold {
			s.heldArena(phaseMapping).AppendMapping(s.height.Load(), &e)
		}
		return true, nil
	})
}

// RemoveProgram removes every mapping of a program with all their entries. It fails with
// [ErrProgramNotFound] if the program has no mapping.
// Canonical: one MappingRemoval event without key per mapping, in bytewise name order.
func (s *Store) RemoveProgram(program []byte) error {
	const op = "remove_program"
	var names [][]byte
	b, err := func() (broadcaster, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var err error
		if names, err = s.storage.MappingNames(program); err != nil {
			return nil, storageErr(op, program, nil, err)
		}
		if len(names) == 0 {
			return nil, opErr(op, program, nil, nil, ErrProgramNotFound)
		}
		for _, m := range names {
			if err := s.dropMappingLocked(op, program, m); err != nil {
				return nil, err
			}
		}
		b := s.mappingSink(abi.MappingRemoval)
		if b != nil && s.inAtomic {
			h := s.height.Load()
			for _, m := range names {
				s.hold(phaseMapping, removalEvent(h, program, m, nil, false))
			}
			return nil, nil
		}
		return b, nil
	}()
	if b == nil || err != nil {
		return err
	}
	h := s.height.Load()
	evs := make([]abi.Event, len(names))
	for i, m := range names {
		evs[i] = removalEvent(h, program, m, nil, false)
	}
	return s.deliverBatch(op, b, evs)
}

// ContainsProgram reports whether the program has at least one mapping.
func (s *Store) ContainsProgram(program []byte) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names, err := s.storage.MappingNames(program)
	if err != nil {
		return false, storageErr("contains_program", program, nil, err)
	}
	return len(names) > 0, nil
}

// ContainsMapping reports whether the mapping is initialized.
func (s *Store) ContainsMapping(program, mapping []byte) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ok, err := s.storage.ContainsMapping(program, mapping)
	if err != nil {
		return false, storageErr("contains_mapping", program, mapping, err)
	}
	return ok, nil
}

// ContainsKey reports whether the key is in the mapping; false (and no error) when the
// mapping is not initialized, as in snarkVM.
func (s *Store) ContainsKey(program, mapping, key []byte) (bool, error) {
	const op = "contains_key"
	s.mu.RLock()
	defer s.mu.RUnlock()
	ok, err := s.storage.ContainsMapping(program, mapping)
	if err != nil {
		return false, storageErr(op, program, mapping, err)
	}
	if !ok {
		return false, nil
	}
	_, ok, err = s.storage.Get(program, mapping, key)
	if err != nil {
		return false, storageErr(op, program, mapping, err)
	}
	return ok, nil
}

// GetValue returns a copy of the key's value; ok is false when the key is absent. It fails
// with [ErrMappingNotFound] if the mapping is not initialized.
func (s *Store) GetValue(program, mapping, key []byte) (value []byte, ok bool, err error) {
	const op = "get_value"
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ok, err := s.storage.ContainsMapping(program, mapping); err != nil {
		return nil, false, storageErr(op, program, mapping, err)
	} else if !ok {
		return nil, false, opErr(op, program, mapping, nil, ErrMappingNotFound)
	}
	v, ok, err := s.storage.Get(program, mapping, key)
	if err != nil {
		return nil, false, storageErr(op, program, mapping, err)
	}
	if !ok {
		return nil, false, nil
	}
	return cloneBytes(v), true, nil
}

// MappingNames returns copies of the program's mapping names in bytewise order; nil for a
// program without mappings.
func (s *Store) MappingNames(program []byte) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names, err := s.storage.MappingNames(program)
	if err != nil {
		return nil, storageErr("get_mapping_names", program, nil, err)
	}
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = cloneBytes(n)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Entries returns copies of the mapping's entries in bytewise key order. It fails with
// [ErrMappingNotFound] if the mapping is not initialized.
func (s *Store) Entries(program, mapping []byte) ([]Entry, error) {
	const op = "get_mapping"
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ok, err := s.storage.ContainsMapping(program, mapping); err != nil {
		return nil, storageErr(op, program, mapping, err)
	} else if !ok {
		return nil, opErr(op, program, mapping, nil, ErrMappingNotFound)
	}
	es, err := s.storage.Entries(program, mapping)
	if err != nil {
		return nil, storageErr(op, program, mapping, err)
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = Entry{Key: cloneBytes(e.Key), Value: cloneBytes(e.Value)}
	}
	return out, nil
}

// storageErr wraps a backend error: errors.Is matches both ErrStorage and the backend's error.
func storageErr(op string, program, mapping []byte, err error) error {
	return opErr(op, program, mapping, nil, fmt.Errorf("%w: %w", ErrStorage, err))
}

// storageErrOrNil is storageErr, or nil for a nil err.
func storageErrOrNil(op string, program, mapping []byte, err error) error {
	if err == nil {
		return nil
	}
	return storageErr(op, program, mapping, err)
}
