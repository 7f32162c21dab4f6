package finalize

import (
	"errors"
	"fmt"

	"github.com/slipstream-go/slipstream/internal/cabi"
)

// The undo log. Every write made inside a batch appends the record of its inverse; a
// checkpoint is a set of indices into the undo log and the held-event lists. Rewinding
// applies the inverses back to the latest checkpoint and truncates the held events to it;
// aborting does the same back to the start of the batch.

type undoOp uint8

const (
	undoPut    undoOp = iota // a key was written or deleted: restore old (had) or delete it (!had)
	undoCreate               // a mapping was created: drop it
	undoDrop                 // a mapping was dropped: re-create it with entries
)

type undoRec struct {
	op                    undoOp
	had                   bool
	program, mapping, key []byte // copies in Store.undoArena or a held event's (undoWrite)
	old                   []byte // the storage's own slice (never modified, see Storage)
	entries               []Entry
}

type checkpoint struct {
	undo, undoArena int
	held            heldMark
}

// recordUndo appends an undo record, copying program, mapping and key into the undo arena
// (amortized: no allocation once the arena has grown to the batch's size).
func (s *Store) recordUndo(op undoOp, program, mapping, key, old []byte, had bool, entries []Entry) {
	s.undo = append(s.undo, undoRec{
		op: op, had: had,
		program: s.keepUndo(program), mapping: s.keepUndo(mapping), key: s.keepUndo(key),
		old: old, entries: entries,
	})
}

// undoWrite records the undo of a single-key write e inside a batch (its key held old
// before, if had). With hold, it also holds e's event, and the undo record points at the
// held event's copy of program, mapping and key instead of copying them a second time:
// both stay until the batch ends, and a rewind drops both back to the same checkpoint.
func (s *Store) undoWrite(hold bool, e *cabi.MappingEvent, old []byte, had bool) {
	if !hold {
		s.recordUndo(undoPut, e.Program, e.Mapping, e.Key, old, had, nil)
		return
	}
	names := s.heldArena(phaseMapping).AppendMapping(s.height.Load(), e)
	p, m := len(e.Program), len(e.Program)+len(e.Mapping)
	s.undo = append(s.undo, undoRec{op: undoPut, had: had, program: names[:p:p], mapping: names[p:m:m], key: names[m:], old: old})
}

// keepUndo copies b into the undo log's arena (see arenaCopy).
func (s *Store) keepUndo(b []byte) []byte { return arenaCopy(&s.undoArena, b) }

// arenaCopy appends b to *arena and returns the copy (nil for nil). The copy is capped by a
// full slice expression: a later append into the arena never writes through it, and copies
// made before the arena is reallocated keep pointing at the old array, which stays valid.
func arenaCopy(arena *[]byte, b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(*arena)
	*arena = append(*arena, b...)
	return (*arena)[start:len(*arena):len(*arena)]
}

// undoTo applies the undo records from the last back to index n and truncates the log there.
// It keeps going after a storage error so that as much as possible is restored, and returns
// the first error.
func (s *Store) undoTo(n, arena int) error {
	var first error
	for i := len(s.undo) - 1; i >= n; i-- {
		if err := s.applyUndo(&s.undo[i]); err != nil && first == nil {
			first = err
		}
		s.undo[i] = undoRec{} // release the references
	}
	s.undo = s.undo[:n]
	s.undoArena = s.undoArena[:arena]
	if first != nil {
		s.log.Error().Err(first).Msg("finalize: rolling back the atomic batch failed; the state may be inconsistent")
	}
	return first
}

func (s *Store) applyUndo(r *undoRec) error {
	var err error
	switch r.op {
	case undoPut:
		if r.had {
			err = s.storage.Put(r.program, r.mapping, r.key, r.old)
		} else {
			err = s.storage.Delete(r.program, r.mapping, r.key)
		}
	case undoCreate:
		err = s.storage.DropMapping(r.program, r.mapping)
	case undoDrop:
		if err = s.storage.CreateMapping(r.program, r.mapping); err == nil {
			for _, e := range r.entries {
				if err = s.storage.Put(r.program, r.mapping, e.Key, e.Value); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		return storageErr("atomic_rewind", r.program, r.mapping, err)
	}
	return nil
}

// resetBatchLocked ends the batch without touching the state: the undo log is dropped.
func (s *Store) resetBatchLocked() {
	clear(s.undo)
	s.undo = s.undo[:0]
	s.undoArena = s.undoArena[:0]
	s.checkpoints = s.checkpoints[:0]
	s.inAtomic = false
}

// StartAtomic starts an atomic batch: the writes that follow can be rolled back
// ([Store.AtomicRewind], [Store.AbortAtomic]) until [Store.FinishAtomic], and their events
// are held until then. It fails with [ErrAtomicInProgress] if a batch is already in progress
// (batches do not nest).
func (s *Store) StartAtomic() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inAtomic {
		return fmt.Errorf("finalize: start_atomic: %w", ErrAtomicInProgress)
	}
	s.inAtomic = true
	return nil
}

// IsAtomicInProgress reports whether an atomic batch is in progress.
func (s *Store) IsAtomicInProgress() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.inAtomic
}

// inBatch runs op's work f with s.mu held, or fails with [ErrNotInAtomic] naming op outside a
// batch.
func (s *Store) inBatch(op string, f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inAtomic {
		return fmt.Errorf("finalize: %s: %w", op, ErrNotInAtomic)
	}
	return f()
}

// AtomicCheckpoint marks the current point of the batch: [Store.AtomicRewind] returns to it.
// Checkpoints stack. It fails with [ErrNotInAtomic] outside a batch.
func (s *Store) AtomicCheckpoint() error {
	return s.inBatch("atomic_checkpoint", func() error {
		s.checkpoints = append(s.checkpoints, checkpoint{undo: len(s.undo), undoArena: len(s.undoArena), held: s.held.mark()})
		return nil
	})
}

// ClearLatestCheckpoint forgets the latest checkpoint and keeps the writes made since (a
// later rewind goes back to the checkpoint before it). Without a checkpoint it does nothing.
// It fails with [ErrNotInAtomic] outside a batch.
func (s *Store) ClearLatestCheckpoint() error {
	return s.inBatch("clear_latest_checkpoint", func() error {
		if n := len(s.checkpoints); n > 0 {
			s.checkpoints = s.checkpoints[:n-1]
		}
		return nil
	})
}

// AtomicRewind undoes the writes made since the latest checkpoint (since [Store.StartAtomic]
// if there is none), drops their held events and removes that checkpoint. The batch stays
// in progress. It fails with [ErrNotInAtomic] outside a batch, and with an [ErrStorage]
// error if the backend failed while restoring.
func (s *Store) AtomicRewind() error {
	return s.inBatch("atomic_rewind", func() error {
		var cp checkpoint
		if n := len(s.checkpoints); n > 0 {
			cp = s.checkpoints[n-1]
			s.checkpoints = s.checkpoints[:n-1]
		}
		err := s.undoTo(cp.undo, cp.undoArena) // before the truncation: records may point at held events
		s.held.truncate(cp.held)
		return err
	})
}

// AbortAtomic undoes every write of the batch, drops all its held events and ends it.
// It fails with [ErrNotInAtomic] outside a batch, and with an [ErrStorage] error if the
// backend failed while restoring (the batch ends anyway).
func (s *Store) AbortAtomic() error {
	return s.inBatch("abort_atomic", func() error {
		s.stats.abortedBatches.Add(1)
		err := s.undoTo(0, 0)
		s.releaseHeldLocked()
		s.resetBatchLocked()
		return err
	})
}

// FinishAtomic commits the batch: its writes stay, and its held events are delivered in one
// BroadcastBatch call: the mapping events in write order, then the staking rewards, then
// the block (see the package documentation). It fails with [ErrNotInAtomic] outside a batch;
// otherwise its error is the plugin manager's (only a plugin with error_policy halt makes
// it fail), wrapped with [ErrDelivery]: the batch is committed all the same.
func (s *Store) FinishAtomic() error {
	s.mu.Lock()
	if !s.inAtomic {
		s.mu.Unlock()
		return fmt.Errorf("finalize: finish_atomic: %w", ErrNotInAtomic)
	}
	s.resetBatchLocked()
	h := s.held
	s.held = nil
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	var err error
	if a := h.ordered(); a.Len() > 0 && s.enabled.Load() {
		if sk := s.sink.Load(); sk != nil {
			s.stats.eventsProduced.Add(uint64(a.Len()))
			var berr error
			if sk.arena != nil {
				berr = sk.arena(a) // the C plugins read what hold wrote
			} else {
				berr = sk.b.BroadcastBatch(a.Events())
			}
			if berr != nil {
				err = fmt.Errorf("finalize: finish_atomic: %w: %w", ErrDelivery, berr)
			}
		}
	}
	h.reset()
	s.mu.Lock()
	if s.spare == nil {
		s.spare = h
	}
	s.mu.Unlock()
	return err
}

// Finalize runs fn, the finalization of the block at height, inside an atomic batch.
//
// It sets the current block height, the mode, and the canonical flag for a [RealRun]
// ([Store.SetCanonical]), starts a batch and runs fn. If fn returns nil in a real run, the
// batch is finished: the block's events reach the plugins, and Finalize returns
// [Store.FinishAtomic]'s error. If fn fails, the batch is aborted (state and events rolled
// back) and fn's error is returned unchanged. A [DryRun] always aborts: it returns fn's
// error and changes neither the state nor the plugins. The mode and canonical flag are
// restored on return; the height stays set after a committed run and is restored otherwise.
// If fn panics, the batch is aborted and the panic continues.
//
// It fails with [ErrAtomicInProgress] if a batch is already in progress (fn is not run).
//
// Inside fn, call the write operations, [Store.AtomicCheckpoint]/[Store.AtomicRewind] as the
// block's transactions require, then [Store.NotifyStakingRewards] and [Store.NotifyBlock];
// do not call StartAtomic, FinishAtomic or AbortAtomic. NotifyBlock inside fn is the
// documented place: the Block event is held with the block's other events and delivered
// after them, dropped if the block aborts, and a halt-policy plugin that fails on it makes
// Finalize return the error. (Calling NotifyBlock after Finalize instead is correct only
// after a nil error, and then its own error must be checked.)
func (s *Store) Finalize(height uint32, mode Mode, fn func() error) error {
	s.mu.Lock()
	if s.inAtomic {
		s.mu.Unlock()
		return fmt.Errorf("finalize: finalize block %d: %w", height, ErrAtomicInProgress)
	}
	prevMode, prevCanonical := s.mode, s.canonical
	prevHeight := s.height.Load()
	s.height.Store(height)
	s.mode = mode
	s.canonical = mode == RealRun
	s.inAtomic = true
	s.mu.Unlock()

	committed := false
	defer func() {
		if !committed {
			if err := s.AbortAtomic(); err != nil && !errors.Is(err, ErrNotInAtomic) {
				s.log.Error().Err(err).Uint32("height", height).Msg("finalize: aborting the block's batch failed")
			}
			s.height.Store(prevHeight)
		}
		s.mu.Lock()
		s.mode, s.canonical = prevMode, prevCanonical
		s.mu.Unlock()
	}()

	if err := fn(); err != nil {
		return err
	}
	if mode != RealRun {
		return nil
	}
	committed = true
	s.stats.blocksFinalized.Add(1)
	return s.FinishAtomic()
}
