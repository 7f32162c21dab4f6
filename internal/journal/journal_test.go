package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
)

// events returns, for each height, a mapping update (32-byte fields), a removal, a staking
// reward and a Block event.
func events(heights ...uint32) []abi.Event {
	f := func(h uint32, b byte) []byte {
		v := make([]byte, 32)
		v[0], v[1], v[2] = byte(h), byte(h>>8), b
		return v
	}
	var evs []abi.Event
	for _, h := range heights {
		evs = append(evs,
			abi.Event{Kind: abi.MappingUpdate, BlockHeight: h, ProgramID: f(h, 1), MappingName: f(h, 2), Key: f(h, 3), HasKey: true, Value: f(h, 4)},
			abi.Event{Kind: abi.MappingRemoval, BlockHeight: h, ProgramID: f(h, 5), MappingName: f(h, 6), Key: f(h, 7), HasKey: true},
			abi.Event{Kind: abi.StakingReward, BlockHeight: h, Staker: f(h, 8), Validator: f(h, 9), Reward: uint64(h) * 1_000_003, NewStake: 1 << 40},
			abi.Event{Kind: abi.Block, BlockHeight: h, Block: f(h, 10)})
	}
	return evs
}

func heights(from, to uint32) []uint32 {
	var hs []uint32
	for h := from; h <= to; h++ {
		hs = append(hs, h)
	}
	return hs
}

func open(t *testing.T, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendAll(t *testing.T, j *Journal, evs []abi.Event) {
	t.Helper()
	if _, _, err := j.Append(evs); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every record from height from on, returning deep copies of the events.
func readAll(t *testing.T, j *Journal, from uint32) []abi.Event {
	t.Helper()
	r := j.Reader(from)
	defer r.Close()
	var out []abi.Event
	var seq uint64
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if seq != 0 && rec.Seq != seq+1 {
			t.Fatalf("record seq %d after %d", rec.Seq, seq)
		}
		seq = rec.Seq
		for _, e := range rec.Events {
			if e.BlockHeight != rec.Height {
				t.Fatalf("event height %d in record of height %d", e.BlockHeight, rec.Height)
			}
			c := e
			for _, p := range []*[]byte{&c.ProgramID, &c.MappingName, &c.Key, &c.Value, &c.Staker, &c.Validator, &c.Block} {
				*p = slices.Clone(*p)
			}
			out = append(out, c)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	j := open(t, t.TempDir(), Options{})
	want := events(heights(1, 50)...)
	for h := uint32(1); h <= 50; h++ { // one append per height, and a height in two appends
		evs := events(h)
		if h == 7 {
			appendAll(t, j, evs[:1])
			evs = evs[1:]
		}
		appendAll(t, j, evs)
	}
	if got := readAll(t, j, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %d events, want %d (first difference matters)", len(got), len(want))
	}
	if got := readAll(t, j, 40); !reflect.DeepEqual(got, want[4*39:]) {
		t.Fatalf("from 40: %d events, want %d", len(got), len(want[4*39:]))
	}
	if w := j.Window(); w.First != 1 || w.Last != 50 || w.Empty {
		t.Errorf("window %+v, want 1..50", w)
	}
}

// TestLargeHeight: a height larger than a record is split into records; a reader gets
// them all, and a tear in its last record cuts the whole height back.
func TestLargeHeight(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	appendAll(t, j, events(1))
	var big []abi.Event
	for i := range 3 * maxBody / 200 {
		big = append(big, abi.Event{Kind: abi.Block, BlockHeight: 2, Block: make([]byte, 200), Reward: uint64(i)})
	}
	appendAll(t, j, big)
	if got := readAll(t, j, 2); len(got) != len(big) {
		t.Fatalf("read %d events of height 2, want %d", len(got), len(big))
	}
	j.Close()
	seg := filepath.Join(dir, "0000000001.jnl")
	fi, _ := os.Stat(seg)
	if err := os.Truncate(seg, fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	j = open(t, dir, Options{})
	if got := readAll(t, j, 0); !reflect.DeepEqual(got, events(1)) {
		t.Fatalf("after a torn last record: %d events, want height 1 only (4)", len(got))
	}
}

// TestTornTail cuts the last record at every byte offset: Open keeps exactly the heights
// before it, and appends continue from there.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	appendAll(t, j, events(1, 2))
	whole := j.Window().Bytes
	appendAll(t, j, events(3))
	j.Close()
	seg := filepath.Join(dir, "0000000001.jnl")
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for cut := whole; cut < int64(len(full)); cut++ {
		t.Run(fmt.Sprint(cut-whole), func(t *testing.T) {
			d := t.TempDir()
			p := filepath.Join(d, "0000000001.jnl")
			if err := os.WriteFile(p, full[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			j := open(t, d, Options{})
			if got := readAll(t, j, 0); !reflect.DeepEqual(got, events(1, 2)) {
				t.Fatalf("%d events after the cut, want heights 1 and 2 (8)", len(got))
			}
			if fi, _ := os.Stat(p); fi.Size() != whole {
				t.Errorf("segment is %d bytes, want cut back to %d", fi.Size(), whole)
			}
			appendAll(t, j, events(3, 4))
			if got := readAll(t, j, 0); !reflect.DeepEqual(got, events(1, 2, 3, 4)) {
				t.Fatalf("%d events after appending 3 and 4, want 16", len(got))
			}
		})
	}
}

// TestReFinalize: after a reopen the heights held are ignored, the first new one is taken.
func TestReFinalize(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	appendAll(t, j, events(heights(1, 10)...))
	j.Close()
	j = open(t, dir, Options{})
	for _, tc := range []struct {
		evs      []abi.Event
		from     int
		appended bool
	}{
		{events(8), 4, false},
		{events(10), 4, false},
		{events(9, 10, 11, 12), 8, true},
		{events(12)[1:], 0, true}, // the rest of height 12 in this process: continues it
		{events(5), 4, false},
	} {
		seq, from, err := j.Append(tc.evs)
		if err != nil || from != tc.from || (seq != 0) != tc.appended {
			t.Errorf("Append(heights %d..%d) = seq %d from %d err %v; want from %d appended %v",
				tc.evs[0].BlockHeight, tc.evs[len(tc.evs)-1].BlockHeight, seq, from, err, tc.from, tc.appended)
		}
	}
	want := append(events(heights(1, 12)...), events(12)[1:]...)
	if got := readAll(t, j, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("%d events, want %d: each height once", len(got), len(want))
	}
	if _, _, err := j.Append(events(20, 19)); !errors.Is(err, ErrOrder) {
		t.Errorf("heights going down: err %v, want ErrOrder", err)
	}
}

func TestRetention(t *testing.T) {
	t.Run("blocks", func(t *testing.T) {
		j := open(t, t.TempDir(), Options{RetainBlocks: 80})
		for h := uint32(1); h <= 1000; h++ {
			appendAll(t, j, events(h))
		}
		w := j.Window()
		if w.Last != 1000 || w.First > 1000-80+1 || w.First < 1000-80-10 {
			t.Fatalf("window %+v: want the last 80 heights, give or take a segment of 10", w)
		}
		if got := readAll(t, j, 0); len(got) != 4*int(w.Last-w.First+1) || got[0].BlockHeight != w.First {
			t.Fatalf("read %d events from %d; window %+v", len(got), got[0].BlockHeight, w)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		dir := t.TempDir()
		j := open(t, dir, Options{RetainBytes: 64 << 10})
		for h := uint32(1); h <= 2000; h++ {
			appendAll(t, j, events(h))
		}
		w := j.Window()
		if w.Bytes > 64<<10+16<<10 || w.Bytes < 32<<10 || w.Last != 2000 {
			t.Fatalf("window %+v: want about 64 KiB (one segment of 16 KiB over at most)", w)
		}
		var onDisk int64
		names, _ := filepath.Glob(filepath.Join(dir, "*.jnl"))
		for _, n := range names {
			fi, _ := os.Stat(n)
			onDisk += fi.Size()
		}
		if onDisk != w.Bytes {
			t.Errorf("files hold %d bytes, window says %d", onDisk, w.Bytes)
		}
		j.Close()
		j = open(t, dir, Options{RetainBytes: 64 << 10})
		if w2 := j.Window(); w2 != w {
			t.Errorf("reopened window %+v, want %+v", w2, w)
		}
	})
}

// TestReaderFollows: a reader returns what is appended after it began, and a gap when
// retention deleted what it had not read.
func TestReaderFollows(t *testing.T) {
	j := open(t, t.TempDir(), Options{RetainBlocks: 16})
	r := j.Reader(0)
	defer r.Close()
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("empty journal: %v, want io.EOF", err)
	}
	appendAll(t, j, events(1, 2))
	for range 2 {
		if rec, err := r.Next(); err != nil || rec.Height == 0 {
			t.Fatalf("Next = %+v, %v", rec, err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	for h := uint32(3); h <= 100; h++ {
		appendAll(t, j, events(h))
	}
	var gap *GapError
	var got []uint32
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if errors.As(err, &gap) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Height)
	}
	// The reader holds segment 1..2 open; the rest from 3 on was partly deleted.
	if gap == nil || gap.First != 3 || gap.Last+1 != got[0] || got[len(got)-1] != 100 {
		t.Fatalf("gap %v, then heights %v; want a gap from 3 up to the first height read", gap, got)
	}
}

func TestReopenContinues(t *testing.T) {
	dir := t.TempDir()
	for round := range uint32(3) {
		j := open(t, dir, Options{SegmentBytes: 4096})
		appendAll(t, j, events(heights(round*20+1, round*20+20)...))
		j.Close()
	}
	j := open(t, dir, Options{})
	if got := readAll(t, j, 0); !reflect.DeepEqual(got, events(heights(1, 60)...)) {
		t.Fatalf("%d events, want 240", len(got))
	}
}

// TestBytesPerEvent: the journal costs at most 32 bytes per event over its payload.
func TestBytesPerEvent(t *testing.T) {
	j := open(t, t.TempDir(), Options{})
	evs := events(heights(1, 1000)...)
	payload := 0
	for _, h := range heights(1, 1000) {
		e := events(h)
		payload += e[0].Size() + e[1].Size() + e[2].Size() + e[3].Size()
		appendAll(t, j, e)
	}
	over := float64(j.Window().Bytes-int64(payload)) / float64(len(evs))
	t.Logf("%.1f bytes per event over the payload", over)
	if over > 32 {
		t.Errorf("%.1f bytes per event over the payload, want <= 32", over)
	}
}

func TestParseSync(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Sync
	}{{"none", SyncNone}, {"always", SyncAlways}, {"every 10", SyncEvery(10)}, {"5", SyncEvery(5)}} {
		if got, err := ParseSync(tc.in); err != nil || got != tc.want || (got.String() != tc.in && tc.in != "5") {
			t.Errorf("ParseSync(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := ParseSync("sometimes"); err == nil {
		t.Error("ParseSync(sometimes): no error")
	}
}

func TestCorruptMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 4096})
	appendAll(t, j, events(heights(1, 100)...))
	j.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*.jnl"))
	if len(names) < 3 {
		t.Fatalf("%d segments, want several", len(names))
	}
	data, _ := os.ReadFile(names[1])
	data[len(data)/2] ^= 0xff
	os.WriteFile(names[1], data, 0o644)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}
