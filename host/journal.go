package host

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/journal"
)

// The journal (WithJournal) keeps the committed events of a window of recent heights, so
// that a plugin that loads behind the node gets what it missed.
//
// Broadcast appends the events first (heights the journal already holds, which a restarted
// node re-finalizes, are not appended) and then delivers them: to a plugin that keeps no
// position, everything broadcast; to a plugin with a position (resume_height, Resumer),
// only what was journaled, so that a re-finalized height never reaches it twice.
//
// A plugin with a position that loads (LoadPlugin, Register, a reload, a re-enable by
// reload) catches up: a goroutine of its own reads the journal from its resume height and
// delivers, in order, while Broadcast skips the plugin (s.catching, checked before its
// lock) and goes on with the others. It reads in rounds, each up to the journal's end as
// it was when the round began; once it is a few records behind (or does not gain on the
// node), it delivers the rest holding the broadcasts back (m.jmu, for those few records
// only) and switches the plugin to live delivery, recording the last record it passed
// (s.mark): no record reaches the plugin twice, none is skipped. A resume height older
// than the journal's window is logged with the gap and counted (Counters.GapHeights).
// Unload and reload stop a catch-up; Flush waits for it.

// ErrJournal: the journal directory could not be opened (the manager refuses loads).
var ErrJournal = errors.New("event journal unavailable")

// JournalOption configures WithJournal.
type JournalOption func(*journal.Options)

// JournalRetainBlocks keeps at least the last n heights (default 100,000); older segments
// are deleted whole.
func JournalRetainBlocks(n uint32) JournalOption {
	return func(o *journal.Options) { o.RetainBlocks = n }
}

// JournalRetainBytes bounds the journal's size on disk (default 1 GiB): the oldest segments
// are deleted while it holds more.
func JournalRetainBytes(n int64) JournalOption {
	return func(o *journal.Options) { o.RetainBytes = n }
}

// JournalFsync sets the fsync policy: 0 (the default) never fsyncs, which survives the
// process's kill -9 (what write returned is in the page cache) but not a power loss; 1
// fsyncs after every broadcast; n after every n-th. A finished segment is fsynced under
// every policy but 0, and the journal is fsynced when the manager shuts down.
func JournalFsync(every int) JournalOption {
	return func(o *journal.Options) {
		if every <= 0 {
			o.Sync = journal.SyncNone
		} else {
			o.Sync = journal.SyncEvery(every)
		}
	}
}

// WithJournal keeps a durable journal of the committed events in dir (created if needed),
// from which a plugin that keeps a position and loads behind the node catches up (see
// SPEC §8). If dir cannot be opened the error is logged and every load fails with a
// *LoadError matching ErrJournal.
func WithJournal(dir string, opts ...JournalOption) Option {
	return func(m *Manager) {
		m.jdir = dir
		m.jopts = journal.Options{}
		for _, o := range opts {
			o(&m.jopts)
		}
	}
}

// openJournal opens the journal WithJournal asked for (in NewManager).
func (m *Manager) openJournal() {
	if m.jdir == "" {
		return
	}
	j, err := journal.Open(m.jdir, m.jopts)
	if err != nil {
		m.jerr = fmt.Errorf("%w: %s: %w (check the directory, or start without the journal)", ErrJournal, m.jdir, err)
		m.log.Error().Err(m.jerr).Msg("event journal")
		return
	}
	m.journal = j
	w := j.Window()
	m.log.Info().Str("dir", m.jdir).Bool("empty", w.Empty).Uint32("first_height", w.First).Uint32("last_height", w.Last).
		Int64("bytes", w.Bytes).Msg("event journal opened")
}

// JournalInfo describes the journal's window.
type JournalInfo struct {
	Dir         string
	Empty       bool   // it holds no height yet
	First, Last uint32 // the oldest and newest height it holds
	Bytes       int64  // its size on disk
	Segments    int    // its segment files
}

// JournalInfo describes the journal; ok is false without one (WithJournal).
func (m *Manager) JournalInfo() (info JournalInfo, ok bool) {
	if m.journal == nil {
		return JournalInfo{}, false
	}
	w := m.journal.Window()
	return JournalInfo{Dir: m.jdir, Empty: w.Empty, First: w.First, Last: w.Last, Bytes: w.Bytes, Segments: w.Segments}, true
}

// lag fills pi.Lag from the journal's last height.
func (m *Manager) lag(pi *PluginInfo) {
	if m.journal == nil {
		return
	}
	if w := m.journal.Window(); !w.Empty && uint64(w.Last) > pi.Position {
		pi.Lag = uint64(w.Last) - pi.Position
	}
}

// broadcastJournaled appends b to the journal, then delivers it (Broadcasts are serialized
// with a journal: the order of the records is the order of delivery).
func (m *Manager) broadcastJournaled(b *batch) error {
	m.jmu.Lock()
	defer m.jmu.Unlock()
	evs := b.events()
	seq, from, err := m.journal.Append(evs)
	jb := b // the journaled part, for the plugins with a position
	var part batch
	switch {
	case err != nil:
		m.journalFailed(err)
		seq = math.MaxUint64 // not journaled: delivered live to every plugin not catching up
	case from == len(evs):
		jb = nil
	case from > 0:
		part = batch{evs: evs[from:]}
		part.count()
		jb = &part
	}
	if jb != nil {
		jb.seq = seq
	}
	var (
		pa, pj *pooledArena
		halt   error
	)
	for _, s := range *m.slots.Load() {
		cur := s.cur.Load()
		t := b
		if cur.hasResume {
			if jb == nil || s.catching.Load() || jb.seq <= s.mark.Load() {
				continue // a re-finalized height, or the catch-up delivers it
			}
			t = jb
		}
		if cur.mask&t.present == 0 {
			continue
		}
		if q := s.async.Load(); q != nil && q.enqueue(s, cur.mask, t.events()) {
			continue
		}
		if t.arena == nil && cur.inst.encoded() {
			p := m.getArena()
			if t == b {
				pa = p
			} else {
				pj = p
			}
			t.encode(p.a)
		}
		if err := s.deliver(t, false); err != nil && halt == nil {
			halt = err
		}
	}
	for _, p := range []*pooledArena{pa, pj} {
		if p != nil {
			m.putArena(p)
		}
	}
	return halt
}

// journalFailed logs a failed append (once: the journal takes no more).
func (m *Manager) journalFailed(err error) {
	if m.jfailed.CompareAndSwap(false, true) {
		m.log.Error().Err(err).Msg("event journal: append failed; events are delivered live only from now on, and plugins that load cannot catch up")
	}
}

// catchUp is a running catch-up of one slot.
type catchUp struct {
	stop chan struct{} // closed to stop it
	done chan struct{} // closed when it has returned
}

// startCatchUp starts the catch-up of s from cur's resume height (under m.mu), when there is
// a journal and cur keeps a position; s.catching must be set before s can receive anything
// live (add and finishReload do).
func (m *Manager) startCatchUp(s *slot, cur *loaded) {
	if !m.catchesUp(cur) {
		return
	}
	s.catching.Store(true)
	from := uint32(cur.resume)
	if w := m.journal.Window(); !w.Empty && cur.resume < uint64(w.First) {
		m.countGap(s, cur, uint32(cur.resume), w.First-1)
		from = w.First
	}
	c := &catchUp{stop: make(chan struct{}), done: make(chan struct{})}
	s.catch.Store(c)
	go m.runCatchUp(s, cur, c, from)
}

// catchesUp reports whether a plugin loaded as cur catches up from the journal.
func (m *Manager) catchesUp(cur *loaded) bool {
	return m.journal != nil && cur.hasResume && cur.resume <= math.MaxUint32
}

// countGap logs and counts heights first to last, which the plugin needs and the journal
// no longer holds.
func (m *Manager) countGap(s *slot, cur *loaded, first, last uint32) {
	s.stats.gapHeights.Add(uint64(last-first) + 1)
	cur.log.Warn().Uint32("first_missing", first).Uint32("last_missing", last).Str("journal", m.jdir).
		Msg("journal gap: the plugin's resume height is older than the journal's window; these heights cannot be delivered (counted in gap_heights)")
}

// catchUpTail: a catch-up that is this many records or fewer behind the journal's end
// (or did not gain on it in a round: the plugin is slower than the node) delivers the rest
// with the broadcasts held (m.jmu), and switches to live delivery.
const catchUpTail = 256

// runCatchUp delivers the journal's records from height from on to s, then switches s to
// live delivery. It reads in rounds up to the journal's end as it was when the round
// began, without holding anyone up; the last few records it delivers holding m.jmu, so
// that the switch ends even while the node broadcasts without pause (a sync plugin slower
// than the node would hold it up live just as much).
func (m *Manager) runCatchUp(s *slot, cur *loaded, c *catchUp, from uint32) {
	defer close(c.done)
	cu := catchUpRun{m: m, s: s, cur: cur, c: c, r: m.journal.Reader(from)}
	defer cu.r.Close()
	if cur.inst.encoded() {
		cu.a = cabi.NewArena()
		defer cu.a.Free()
	}
	behind := uint64(math.MaxUint64)
	for {
		end := m.journal.End()
		left := end - min(cu.r.Pos(), end)
		if left <= catchUpTail || left >= behind {
			break
		}
		behind = left
		if !cu.deliverTo(end) {
			return
		}
	}
	m.jmu.Lock()
	defer m.jmu.Unlock()
	if !cu.deliverTo(m.journal.End()) {
		return
	}
	s.mu.Lock()
	s.mark.Store(cu.r.Pos())
	s.catching.Store(false)
	s.mu.Unlock()
	cur.log.Info().Uint64("resume_height", cur.resume).Uint64("journaled_events", cu.delivered).
		Msg("caught up from the journal; live delivery from here")
}

// catchUpRun is the state of one runCatchUp.
type catchUpRun struct {
	m         *Manager
	s         *slot
	cur       *loaded
	c         *catchUp
	r         *journal.Reader
	a         *cabi.Arena
	delivered uint64
}

// deliverTo delivers the records up to sequence number end. It returns false when the
// catch-up must end: stopped (unload, reload), or the journal could not be read (then
// the slot is switched to live delivery, and the error logged).
func (cu *catchUpRun) deliverTo(end uint64) bool {
	s, cur := cu.s, cu.cur
	for cu.r.Pos() < end {
		select {
		case <-cu.c.stop:
			return false
		default:
		}
		rec, err := cu.r.Next()
		var gap *journal.GapError
		switch {
		case err == nil:
			b := batch{evs: rec.Events}
			b.count()
			s.mu.Lock()
			if b.present&cur.mask != 0 && !s.closed {
				if cu.a != nil {
					b.encode(cu.a)
				}
				// A halt error has no broadcaster to return to: the plugin is marked failed.
				_ = s.deliverLocked(&b)
				cu.delivered += uint64(len(b.evs))
			}
			s.mark.Store(rec.Seq)
			s.mu.Unlock()
		case errors.As(err, &gap):
			cu.m.countGap(s, cur, gap.First, gap.Last)
		case err == io.EOF:
			return true // the records up to end are below the reader's height
		default:
			s.mu.Lock()
			s.mark.Store(end)
			s.catching.Store(false)
			s.mu.Unlock()
			cur.log.Error().Err(err).Msg("reading the journal failed: the catch-up stops, live delivery from here")
			return false
		}
	}
	return true
}

// stopCatchUp stops a catch-up in progress and waits for it (under m.mu). The slot stays
// marked as catching up: the caller unloads or reloads it.
func (s *slot) stopCatchUp() {
	if c := s.catch.Swap(nil); c != nil {
		close(c.stop)
		<-c.done
	}
}
