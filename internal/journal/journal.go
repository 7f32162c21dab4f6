// Package journal is the host's durable journal of committed events: an append-only log
// of block heights' events in segment files in one directory, which a plugin that loads
// behind the node (after an unload, a failure, a reload or its node's crash) reads from its
// resume height on.
//
// # Format
//
// Own segment files (codec.go), not a library: the journal needs height-keyed records, a
// cut-back to the last whole height after a torn write, whole-segment retention by blocks
// and bytes, and concurrent readers of the segment being written; the log libraries at hand
// (etcd's wal, tidwall/wal) bring their own indexing and recovery rules and dependencies
// for less than the ~400 lines here.
//
// # Durability
//
// Every Append is one write(2) per segment it touches. What write returned is in the page
// cache, which outlives the process: a kill -9 loses nothing that Append returned, and a
// kill during the write leaves a torn tail that Open cuts back to the last whole height.
// fsync only matters when the machine loses power: SyncAlways makes every Append durable
// against that (at a disk flush per append), SyncEvery(n) bounds the loss to n appends;
// the default, SyncNone, leaves it to the kernel's writeback. A finished segment is synced
// under every policy but SyncNone, and Close always syncs.
//
// # Heights
//
// Events are appended in height order. Events below the last height held are ignored,
// and so, after Open, are events at the last height held: a restarted node that
// re-finalizes heights the journal holds duplicates nothing. Within one process, more
// events of the last height (a node that broadcasts a block in several calls) continue it.
package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/slipstream-go/slipstream/abi"
)

// Sync is the journal's fsync policy (see the package's Durability section).
type Sync int

// The fsync policies. SyncEvery(n) is the third.
const (
	SyncNone   Sync = 0  // no fsync on Append: survives a process kill, not a power loss
	SyncAlways Sync = 1  // fsync after every Append
	syncMax    Sync = -1 // not a policy
)

// SyncEvery returns the policy that fsyncs after every n-th Append (n >= 1).
func SyncEvery(n int) Sync { return Sync(max(n, 1)) }

// String names the policy: "none", "always" or "every N".
func (s Sync) String() string {
	switch {
	case s <= SyncNone:
		return "none"
	case s == SyncAlways:
		return "always"
	}
	return "every " + strconv.Itoa(int(s))
}

// ParseSync reads a policy as String writes it ("every N" also as "N").
func ParseSync(v string) (Sync, error) {
	switch v = strings.TrimSpace(v); v {
	case "none", "":
		return SyncNone, nil
	case "always":
		return SyncAlways, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(v, "every")))
	if err != nil || n < 1 {
		return syncMax, fmt.Errorf("journal: fsync policy %q: want none, always or every N (N >= 1)", v)
	}
	return SyncEvery(n), nil
}

// Defaults of Options.
const (
	DefaultRetainBlocks = 100_000
	DefaultRetainBytes  = 1 << 30
	DefaultSegmentBytes = 64 << 20
)

// Options configure a journal. Zero fields take the defaults.
type Options struct {
	// RetainBlocks keeps at least the last RetainBlocks heights: a segment whose heights are
	// all older is deleted.
	RetainBlocks uint32
	// RetainBytes bounds the journal's size: the oldest segments are deleted while it holds
	// more (never the segment being written).
	RetainBytes int64
	// SegmentBytes is the size at which a new segment starts (at the next height); it is
	// also at most RetainBytes/4 and a segment holds at most RetainBlocks/8 heights, so that
	// retention deletes in steps small against the window.
	SegmentBytes int64
	// Sync is the fsync policy.
	Sync Sync
}

func (o Options) withDefaults() Options {
	if o.RetainBlocks == 0 {
		o.RetainBlocks = DefaultRetainBlocks
	}
	if o.RetainBytes <= 0 {
		o.RetainBytes = DefaultRetainBytes
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	o.SegmentBytes = max(min(o.SegmentBytes, o.RetainBytes/4), 4096)
	return o
}

// Errors.
var (
	// ErrCorrupt: a segment other than the last holds a damaged record (a torn tail of the
	// last segment is cut back, not an error).
	ErrCorrupt = errors.New("journal: corrupt segment")
	// ErrOrder: an Append's events go down in height.
	ErrOrder = errors.New("journal: events out of height order")
	// ErrClosed: the journal is closed.
	ErrClosed = errors.New("journal: closed")
)

// segment is one segment file. Its fields change under Journal.mu (size, last and n only
// while it is the segment being written).
type segment struct {
	path        string
	first, last uint32 // heights (valid when n > 0)
	firstSeq    uint64 // sequence number of its first record
	n           uint64 // records
	size        int64  // bytes, including the magic
}

// Journal is an open journal. Its methods are safe for concurrent use; Append calls are
// serialized.
type Journal struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segs     []*segment // oldest first; the last is the one written (if f != nil)
	f        *os.File   // the segment being written, nil until the first Append after Open
	has      bool       // the journal holds a height
	last     uint32     // the last height held
	cont     bool       // last was appended by this process: more of it continues it
	seq      uint64     // the last record's sequence number (numbered from 1 in this process)
	bytes    int64
	unsynced int
	buf      []byte
	err      error // a failed write: the journal takes no more appends
	closed   bool
}

// Open opens (creating it if needed) the journal in dir, cutting a torn tail back to the
// last whole height.
func Open(dir string, opts Options) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{dir: dir, opts: opts.withDefaults()}
	names, err := filepath.Glob(filepath.Join(dir, "*.jnl"))
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	slices.Sort(names) // zero-padded first heights
	for i, name := range names {
		s := &segment{path: name, firstSeq: j.seq + 1}
		if err := j.scan(s, i == len(names)-1); err != nil {
			return nil, err
		}
		if s.n == 0 {
			if err := os.Remove(name); err != nil {
				return nil, fmt.Errorf("journal: removing empty segment: %w", err)
			}
			continue
		}
		j.segs = append(j.segs, s)
		j.seq += s.n
		j.bytes += s.size
		j.has, j.last = true, s.last
	}
	return j, nil
}

// scan reads a segment's records to fill s; the last segment's torn tail is cut back.
func (j *Journal) scan(s *segment, isLast bool) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r := segReader{f: f, off: int64(len(magic))}
	var mg [len(magic)]byte
	if _, err := f.ReadAt(mg[:], 0); err != nil || string(mg[:]) != magic {
		if isLast || fi.Size() < int64(len(magic)) {
			s.n = 0 // a segment torn in its magic (or empty): dropped
			return nil
		}
		return fmt.Errorf("%w: %s: no segment magic (move the file away or delete the journal directory)", ErrCorrupt, s.path)
	}
	var (
		whole        = r.off // end of the last record that ends an append
		wholeN       uint64
		wholeLast    uint32
		n            uint64
		first, lastH uint32
		evs          []abi.Event
	)
	for {
		body, ok, err := r.next(fi.Size())
		if err != nil {
			return fmt.Errorf("journal: %s: %w", s.path, err)
		}
		if !ok {
			break
		}
		h, more, out, derr := decodeBody(body, evs[:0])
		evs = out
		if derr != nil || (n > 0 && h < lastH) {
			break // cut back to the last whole append
		}
		if n == 0 {
			first = h
		}
		n, lastH = n+1, h
		if !more {
			whole, wholeN, wholeLast = r.off, n, lastH
		}
	}
	if whole != fi.Size() {
		if !isLast {
			return fmt.Errorf("%w: %s: damaged record at offset %d of %d (move this file and the later ones away, or delete the journal directory)",
				ErrCorrupt, s.path, whole, fi.Size())
		}
		if err := os.Truncate(s.path, whole); err != nil {
			return fmt.Errorf("journal: cutting the torn tail of %s: %w", s.path, err)
		}
	}
	s.first, s.last, s.n, s.size = first, wholeLast, wholeN, whole
	return nil
}

// Window describes what a journal holds.
type Window struct {
	Empty       bool   // it holds no height (First and Last are 0)
	First, Last uint32 // the oldest and newest height held
	Bytes       int64  // the size of its segment files
	Segments    int
}

// Window returns what the journal holds now.
func (j *Journal) Window() Window {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.has {
		return Window{Empty: true, Bytes: j.bytes, Segments: len(j.segs)}
	}
	return Window{First: j.segs[0].first, Last: j.last, Bytes: j.bytes, Segments: len(j.segs)}
}

// End returns the sequence number of the last record (0: none yet in this process).
func (j *Journal) End() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq
}

// Append journals the events of evs that it does not hold yet: it returns from, the index of
// the first event taken (evs[from:] are journaled; from == len(evs) when none is), and seq,
// the sequence number of the last record written (0 when none). The events must not go
// down in height from evs[from] on (ErrOrder, nothing written). A failed write is returned
// and fails every later Append (the journal must be reopened).
func (j *Journal) Append(evs []abi.Event) (seq uint64, from int, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return 0, len(evs), ErrClosed
	}
	if j.err != nil {
		return 0, len(evs), j.err
	}
	for from < len(evs) {
		h := evs[from].BlockHeight
		if !j.has || h > j.last || (h == j.last && j.cont) {
			break
		}
		from++
	}
	take := evs[from:]
	for i := 1; i < len(take); i++ {
		if take[i].BlockHeight < take[i-1].BlockHeight {
			return 0, len(evs), fmt.Errorf("%w: height %d after %d", ErrOrder, take[i].BlockHeight, take[i-1].BlockHeight)
		}
	}
	j.buf = j.buf[:0]
	for len(take) > 0 {
		h := take[0].BlockHeight
		run := 1
		for run < len(take) && take[run].BlockHeight == h {
			run++
		}
		if !j.has || h != j.last {
			if err := j.startHeight(h); err != nil {
				return 0, len(evs), j.fail(err)
			}
		}
		j.encodeRun(h, take[:run])
		take = take[run:]
	}
	if err := j.writeBuf(); err != nil {
		return 0, len(evs), j.fail(err)
	}
	if from < len(evs) {
		if err := j.synced(); err != nil {
			return 0, len(evs), j.fail(err)
		}
		j.retain()
		seq = j.seq
	}
	return seq, from, nil
}

func (j *Journal) fail(err error) error {
	j.err = fmt.Errorf("journal: %s: write failed, no more appends until it is reopened: %w", j.dir, err)
	return j.err
}

// encodeRun encodes the events of one height into j.buf, in records of about maxBody.
func (j *Journal) encodeRun(h uint32, run []abi.Event) {
	s := j.segs[len(j.segs)-1]
	for len(run) > 0 {
		n, size := 0, 0
		for n < len(run) && (n == 0 || size+eventSize(&run[n]) <= maxBody) {
			size += eventSize(&run[n])
			n++
		}
		before := len(j.buf)
		j.buf = appendRecord(j.buf, h, n < len(run), run[:n])
		run = run[n:]
		j.seq++
		if s.n == 0 {
			s.first = h
		}
		s.n++
		s.last = h
		s.size += int64(len(j.buf) - before)
		j.bytes += int64(len(j.buf) - before)
	}
	j.has, j.last, j.cont = true, h, true
}

// startHeight makes room for a new height h: it opens the segment to write (a new one after
// Open, or when the current one is full).
func (j *Journal) startHeight(h uint32) error {
	if j.f != nil {
		s := j.segs[len(j.segs)-1]
		full := s.size >= j.opts.SegmentBytes || (s.n > 0 && int64(h)-int64(s.first) >= int64(max(j.opts.RetainBlocks/8, 1)))
		if !full {
			return nil
		}
		if err := j.writeBuf(); err != nil {
			return err
		}
		if j.opts.Sync != SyncNone {
			if err := j.f.Sync(); err != nil {
				return err
			}
		}
		if err := j.f.Close(); err != nil {
			return err
		}
		j.f = nil
	}
	s := &segment{path: filepath.Join(j.dir, fmt.Sprintf("%010d.jnl", h)), firstSeq: j.seq + 1, size: int64(len(magic))}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	j.buf = append(j.buf, magic...)
	j.f = f
	j.segs = append(j.segs, s)
	j.bytes += s.size
	return nil
}

// writeBuf writes what j.buf holds to the segment being written.
func (j *Journal) writeBuf() error {
	if len(j.buf) == 0 {
		return nil
	}
	_, err := j.f.Write(j.buf)
	j.buf = j.buf[:0]
	return err
}

// synced applies the fsync policy after an Append.
func (j *Journal) synced() error {
	if j.opts.Sync == SyncNone {
		return nil
	}
	j.unsynced++
	if j.unsynced < int(j.opts.Sync) {
		return nil
	}
	j.unsynced = 0
	return j.f.Sync()
}

// retain deletes the oldest segments that fall outside the window. A segment that cannot
// be deleted (a reader holds it open on Windows) is tried again after the next Append.
func (j *Journal) retain() {
	for len(j.segs) > 1 {
		s := j.segs[0]
		old := int64(s.last) < int64(j.last)-int64(j.opts.RetainBlocks)+1
		big := j.bytes > j.opts.RetainBytes
		if !old && !big {
			return
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
		j.bytes -= s.size
		j.segs = j.segs[1:]
	}
}

// Close syncs and closes the journal. Readers return ErrClosed afterwards.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if j.f == nil {
		return nil
	}
	err := j.f.Sync()
	return errors.Join(err, j.f.Close())
}

// Record is one record read from the journal: events of one height (a height journaled in
// several records, by several appends or a large one, comes as several records).
type Record struct {
	Seq    uint64 // its sequence number: increasing by one from record to record
	Height uint32
	Events []abi.Event // valid until the next call of Reader.Next
}

// GapError is returned by Reader.Next when retention deleted records the reader had not
// read yet: heights First to Last are missing. The next call continues after the gap.
type GapError struct{ First, Last uint32 }

func (e *GapError) Error() string {
	return fmt.Sprintf("journal: heights %d to %d were deleted by retention before they were read", e.First, e.Last)
}

// Reader reads a journal's records in order, while it is written.
type Reader struct {
	j     *Journal
	from  uint32
	seg   *segment
	r     segReader
	next  uint64 // the sequence number of the next record
	lastH uint32 // the height of the last record read
	read  bool   // a record was read
	evs   []abi.Event
}

// Reader returns a reader of the records from height from on (the first held, if from is
// older). It reads what was appended before each Next call; Close it when done.
func (j *Journal) Reader(from uint32) *Reader {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := &Reader{j: j, from: from, next: j.seq + 1}
	for _, s := range j.segs {
		if s.first <= from || s == j.segs[0] {
			r.next = s.firstSeq
		}
	}
	return r
}

// Next returns the next record at or above the reader's height, io.EOF when it has read
// everything appended so far (call it again later for more), a *GapError, or ErrClosed.
func (r *Reader) Next() (Record, error) {
	for {
		if r.seg == nil {
			if err := r.open(); err != nil {
				return Record{}, err
			}
		}
		r.j.mu.Lock()
		limit, closed := r.seg.size, r.j.closed
		sealed := r.seg != r.j.segs[len(r.j.segs)-1]
		r.j.mu.Unlock()
		if closed {
			return Record{}, ErrClosed
		}
		body, ok, err := r.r.next(limit)
		if err != nil {
			return Record{}, err
		}
		if !ok {
			if !sealed {
				return Record{}, io.EOF
			}
			r.r.f.Close()
			r.seg = nil
			continue
		}
		h, _, evs, err := decodeBody(body, r.evs[:0])
		r.evs = evs
		if err != nil {
			return Record{}, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, r.seg.path, r.r.off, err)
		}
		seq := r.next
		r.next++
		r.lastH, r.read = h, true
		if h < r.from {
			continue
		}
		return Record{Seq: seq, Height: h, Events: evs}, nil
	}
}

// open opens the segment that holds record r.next.
func (r *Reader) open() error {
	r.j.mu.Lock()
	defer r.j.mu.Unlock()
	if r.j.closed {
		return ErrClosed
	}
	for _, s := range r.j.segs {
		if r.next < s.firstSeq+s.n || s == r.j.segs[len(r.j.segs)-1] {
			if r.next < s.firstSeq { // deleted before it was read
				gap := &GapError{First: r.from, Last: s.first - 1}
				if r.read {
					gap.First = max(r.lastH+1, r.from)
				}
				r.next = s.firstSeq
				if gap.First <= gap.Last {
					return gap
				}
			}
			if r.next >= s.firstSeq+s.n && r.j.f == nil {
				return io.EOF // the last segment after Open, read to its end
			}
			f, err := os.Open(s.path)
			if err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			r.seg = s
			r.r = segReader{f: f, off: int64(len(magic)), buf: r.r.buf[:0]} // segments are entered at their start
			return nil
		}
	}
	return io.EOF
}

// Pos returns the sequence number of the last record the reader has passed (read, or
// skipped for being below its height); compare it with Journal.End.
func (r *Reader) Pos() uint64 { return r.next - 1 }

// Close releases the reader's file.
func (r *Reader) Close() {
	if r.seg != nil {
		r.r.f.Close()
		r.seg = nil
	}
}

// segReader reads records from a segment file through a buffer.
type segReader struct {
	f        *os.File
	off      int64 // the next record's offset
	buf      []byte
	bufStart int64 // the file offset of buf[0]
}

// next returns the body of the record at off if it is whole below limit (ok false if not,
// or if its CRC is wrong) and moves past it. The body is valid until the next call.
func (r *segReader) next(limit int64) (body []byte, ok bool, err error) {
	b, err := r.window(headerSize, limit)
	if err != nil || b == nil {
		return nil, false, err
	}
	n := int64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	if n > maxRead || r.off+headerSize+n > limit {
		return nil, false, nil
	}
	if b, err = r.window(int(headerSize+n), limit); err != nil || b == nil {
		return nil, false, err
	}
	body, ok = checkRecord(b)
	if !ok {
		return nil, false, nil
	}
	r.off += headerSize + n
	return body, true, nil
}

// window returns the n bytes at r.off (nil if they are not all below limit), reading them
// into the buffer if needed.
func (r *segReader) window(n int, limit int64) ([]byte, error) {
	if r.off+int64(n) > limit {
		return nil, nil
	}
	if r.off >= r.bufStart && r.off+int64(n) <= r.bufStart+int64(len(r.buf)) {
		i := r.off - r.bufStart
		return r.buf[i : i+int64(n)], nil
	}
	want := int(min(max(int64(n), 256<<10), limit-r.off))
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	if _, err := r.f.ReadAt(r.buf, r.off); err != nil {
		r.buf = r.buf[:0]
		return nil, fmt.Errorf("journal: reading %s: %w", r.f.Name(), err)
	}
	r.bufStart = r.off
	return r.buf[:n], nil
}
