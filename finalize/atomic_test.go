package finalize

import (
	"errors"
	"testing"
)

// seed gives a store some state to roll back to.
func seed(t *testing.T) *Store {
	t.Helper()
	return seedInto(t, NewStore())
}

// subscribed returns a new canonical store with a recorder subscribed to every kind: its
// batches hold their events, and its undo log points at the held events' bytes
// (undoWrite), which a rollback must not confuse with anything written later.
func subscribed(*testing.T) *Store {
	s := NewStore()
	s.setBroadcaster(newRecorder())
	s.SetCanonical(true)
	return s
}

// stores are the two kinds of store the rollback tests run on.
var stores = []struct {
	name string
	new  func(*testing.T) *Store
}{{"unsubscribed", func(*testing.T) *Store { return NewStore() }}, {"subscribed", subscribed}}

func seedInto(t *testing.T, s *Store) *Store {
	t.Helper()
	for _, pm := range [][2]string{{"a.aleo", "m1"}, {"a.aleo", "m2"}, {"b.aleo", "m"}} {
		mustNil(t, s.InitializeMapping(b(pm[0]), b(pm[1])))
	}
	mustNil(t, s.UpdateKeyValue(b("a.aleo"), b("m1"), b("k1"), b("v1")))
	mustNil(t, s.UpdateKeyValue(b("a.aleo"), b("m1"), b("k2"), b("v2")))
	mustNil(t, s.UpdateKeyValue(b("a.aleo"), b("m2"), b("k"), b("v")))
	mustNil(t, s.UpdateKeyValue(b("b.aleo"), b("m"), b("k"), b("v")))
	return s
}

// writes exercises every kind of write, reusing one buffer to check the undo log copies.
func writes(t *testing.T, s *Store) {
	t.Helper()
	buf := b("k1")
	mustNil(t, s.UpdateKeyValue(b("a.aleo"), b("m1"), buf, b("changed")))
	copy(buf, "k2")
	mustNil(t, s.RemoveKeyValue(b("a.aleo"), b("m1"), buf))
	copy(buf, "k3")
	mustNil(t, s.InsertKeyValue(b("a.aleo"), b("m1"), buf, b("new")))
	mustNil(t, s.ReplaceMapping(b("a.aleo"), b("m2"), []Entry{{b("r1"), b("x")}, {b("r1"), b("y")}}))
	mustNil(t, s.InitializeMapping(b("c.aleo"), b("m")))
	mustNil(t, s.UpdateKeyValue(b("c.aleo"), b("m"), b("k"), b("v")))
	mustNil(t, s.RemoveMapping(b("a.aleo"), b("m1")))
	mustNil(t, s.RemoveProgram(b("b.aleo")))
	mustNil(t, s.InitializeMapping(b("b.aleo"), b("m")))
	mustNil(t, s.UpdateKeyValue(b("b.aleo"), b("m"), b("other"), b("v")))
}

func TestAtomicAbortRestoresState(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := seedInto(t, st.new(t))
			before := dump(t, s)
			mustNil(t, s.StartAtomic())
			if !s.IsAtomicInProgress() {
				t.Fatal("not in progress")
			}
			writes(t, s)
			mustNil(t, s.AtomicCheckpoint())
			writes2(t, s)
			if dump(t, s) == before {
				t.Fatal("writes changed nothing")
			}
			mustNil(t, s.AbortAtomic())
			if s.IsAtomicInProgress() {
				t.Fatal("still in progress")
			}
			if got := dump(t, s); got != before {
				t.Fatalf("after abort:\n%s\nwant\n%s", got, before)
			}
		})
	}
}

func writes2(t *testing.T, s *Store) {
	t.Helper()
	mustNil(t, s.UpdateKeyValue(b("c.aleo"), b("m"), b("k"), b("again")))
	mustNil(t, s.RemoveProgram(b("a.aleo")))
}

// twoCheckpoints takes a checkpoint, writes, takes a second one and writes again; it returns
// the dump at the first checkpoint.
func twoCheckpoints(t *testing.T, s *Store) string {
	t.Helper()
	mustNil(t, s.AtomicCheckpoint())
	want := dump(t, s)
	writes(t, s)
	mustNil(t, s.AtomicCheckpoint())
	writes2(t, s)
	return want
}

func TestAtomicRewindToCheckpoint(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store) (want string)
	}{
		{"rewind to latest checkpoint", func(t *testing.T, s *Store) string {
			writes(t, s)
			mustNil(t, s.AtomicCheckpoint())
			want := dump(t, s)
			writes2(t, s)
			mustNil(t, s.AtomicRewind())
			return want
		}},
		{"rewind without checkpoint goes to start", func(t *testing.T, s *Store) string {
			want := dump(t, s)
			writes(t, s)
			mustNil(t, s.AtomicRewind())
			return want
		}},
		{"stacked checkpoints rewind twice", func(t *testing.T, s *Store) string {
			want := twoCheckpoints(t, s)
			mustNil(t, s.AtomicRewind())
			mustNil(t, s.AtomicRewind())
			return want
		}},
		{"cleared checkpoint keeps writes", func(t *testing.T, s *Store) string {
			want := twoCheckpoints(t, s)
			mustNil(t, s.ClearLatestCheckpoint())
			mustNil(t, s.AtomicRewind()) // back to the first checkpoint
			return want
		}},
		{"writes after a rewind reuse what it dropped", func(t *testing.T, s *Store) string {
			want := twoCheckpoints(t, s)
			mustNil(t, s.AtomicRewind())
			mustNil(t, s.AtomicCheckpoint())
			for _, k := range []string{"long key one", "long key two"} { // bytes over the dropped ones
				mustNil(t, s.UpdateKeyValue(b("c.aleo"), b("m"), b(k), b("value")))
				mustNil(t, s.RemoveKeyValue(b("c.aleo"), b("m"), b("k")))
			}
			mustNil(t, s.AtomicRewind())
			mustNil(t, s.AtomicRewind()) // the records of writes, made before the dropped ones
			return want
		}},
		{"clear then rewind keeps newer writes", func(t *testing.T, s *Store) string {
			writes(t, s)
			mustNil(t, s.AtomicCheckpoint())
			mustNil(t, s.UpdateKeyValue(b("c.aleo"), b("m"), b("z"), b("1")))
			mustNil(t, s.ClearLatestCheckpoint())
			mustNil(t, s.ClearLatestCheckpoint()) // none left: no-op
			return dump(t, s)
		}},
	}
	for _, st := range stores {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				s := seedInto(t, st.new(t))
				mustNil(t, s.StartAtomic())
				want := tt.run(t, s)
				if got := dump(t, s); got != want {
					t.Fatalf("after rewind:\n%s\nwant\n%s", got, want)
				}
				if !s.IsAtomicInProgress() {
					t.Fatal("rewind ended the batch")
				}
				mustNil(t, s.FinishAtomic())
				if got := dump(t, s); got != want {
					t.Fatalf("after finish:\n%s\nwant\n%s", got, want)
				}
			})
		}
	}
}

func TestAtomicFinishKeepsWrites(t *testing.T) {
	s, ref := seed(t), seed(t)
	writes(t, ref)
	mustNil(t, s.StartAtomic())
	writes(t, s)
	mustNil(t, s.FinishAtomic())
	if got, want := dump(t, s), dump(t, ref); got != want {
		t.Fatalf("batch result:\n%s\nwant (unbatched)\n%s", got, want)
	}
	// The next batch starts clean: aborting it must not undo the previous one.
	mustNil(t, s.StartAtomic())
	mustNil(t, s.AbortAtomic())
	if got, want := dump(t, s), dump(t, ref); got != want {
		t.Fatalf("abort of an empty batch changed the state:\n%s", got)
	}
}

func TestFinalizeRollsBack(t *testing.T) {
	errFn := errors.New("transaction failed")
	tests := []struct {
		name    string
		mode    Mode
		fnErr   error
		keep    bool
		wantErr error
	}{
		{"real run commits", RealRun, nil, true, nil},
		{"real run error aborts", RealRun, errFn, false, errFn},
		{"dry run never commits", DryRun, nil, false, nil},
		{"dry run error", DryRun, errFn, false, errFn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seed(t)
			s.SetCurrentBlockHeight(9)
			before := dump(t, s)
			ref := seed(t)
			writes(t, ref)
			err := s.Finalize(10, tt.mode, func() error {
				if s.CurrentBlockHeight() != 10 || s.FinalizeMode() != tt.mode || s.IsCanonical() != (tt.mode == RealRun) {
					t.Errorf("inside Finalize: height %d mode %v canonical %v", s.CurrentBlockHeight(), s.FinalizeMode(), s.IsCanonical())
				}
				writes(t, s)
				return tt.fnErr
			})
			if err != tt.wantErr { // fn's error is returned unchanged
				t.Fatalf("Finalize = %v, want %v", err, tt.wantErr)
			}
			want, wantHeight := before, uint32(9)
			if tt.keep {
				want, wantHeight = dump(t, ref), 10
			}
			if got := dump(t, s); got != want {
				t.Fatalf("state:\n%s\nwant\n%s", got, want)
			}
			if s.IsAtomicInProgress() || s.IsCanonical() || s.FinalizeMode() != RealRun || s.CurrentBlockHeight() != wantHeight {
				t.Errorf("after Finalize: in batch %v canonical %v mode %v height %d", s.IsAtomicInProgress(), s.IsCanonical(), s.FinalizeMode(), s.CurrentBlockHeight())
			}
		})
	}
}

func TestFinalizePanicAborts(t *testing.T) {
	s := seed(t)
	before := dump(t, s)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		_ = s.Finalize(1, RealRun, func() error {
			writes(t, s)
			panic("boom")
		})
	}()
	if got := dump(t, s); got != before || s.IsAtomicInProgress() || s.IsCanonical() {
		t.Fatalf("after panic: in batch %v canonical %v state\n%s", s.IsAtomicInProgress(), s.IsCanonical(), got)
	}
}
