package finalize

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

func b(s string) []byte { return []byte(s) }

// evString renders an event compactly for comparisons.
func evString(ev abi.Event) string {
	switch ev.Kind {
	case abi.MappingUpdate:
		return fmt.Sprintf("U%d %s/%s %s=%s", ev.BlockHeight, ev.ProgramID, ev.MappingName, ev.Key, ev.Value)
	case abi.MappingRemoval:
		if !ev.HasKey {
			return fmt.Sprintf("R%d %s/%s *", ev.BlockHeight, ev.ProgramID, ev.MappingName)
		}
		return fmt.Sprintf("R%d %s/%s %s", ev.BlockHeight, ev.ProgramID, ev.MappingName, ev.Key)
	case abi.StakingReward:
		return fmt.Sprintf("S%d %s@%s +%d =%d", ev.BlockHeight, ev.Staker, ev.Validator, ev.Reward, ev.NewStake)
	case abi.Block:
		return fmt.Sprintf("B%d %s", ev.BlockHeight, ev.Block)
	}
	return ev.Kind.String()
}

func evStrings(evs []abi.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = evString(ev)
	}
	return out
}

// dump renders the whole state of a store over MemoryStorage, sorted.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	ms := s.Storage().(*MemoryStorage)
	var lines []string
	for p, prog := range ms.programs {
		for m, mp := range prog.mappings {
			lines = append(lines, fmt.Sprintf("%s/%s", p, m))
			for k, v := range mp.kv {
				lines = append(lines, fmt.Sprintf("%s/%s %s=%s", p, m, k, v.v))
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOperationsErrors(t *testing.T) {
	setup := func(t *testing.T) *Store {
		s := NewStore()
		mustNil(t, s.InitializeMapping(b("credits.aleo"), b("account")))
		mustNil(t, s.InsertKeyValue(b("credits.aleo"), b("account"), b("alice"), b("10")))
		return s
	}
	p, m := b("credits.aleo"), b("account")
	missing := b("bonded")
	tests := []struct {
		name    string
		op      func(s *Store) error
		want    error // nil: success
		mention []string
	}{
		{"initialize existing", func(s *Store) error { return s.InitializeMapping(p, m) }, ErrMappingExists, []string{"credits.aleo", "account"}},
		{"initialize new", func(s *Store) error { return s.InitializeMapping(p, missing) }, nil, nil},
		{"insert existing key", func(s *Store) error { return s.InsertKeyValue(p, m, b("alice"), b("1")) }, ErrKeyExists, []string{"alice"}},
		{"insert new key", func(s *Store) error { return s.InsertKeyValue(p, m, b("bob"), b("1")) }, nil, nil},
		{"insert uninitialized", func(s *Store) error { return s.InsertKeyValue(p, missing, b("k"), b("v")) }, ErrMappingNotFound, []string{"credits.aleo", "bonded"}},
		{"update existing", func(s *Store) error { return s.UpdateKeyValue(p, m, b("alice"), b("11")) }, nil, nil},
		{"update new", func(s *Store) error { return s.UpdateKeyValue(p, m, b("carol"), b("1")) }, nil, nil},
		{"update uninitialized", func(s *Store) error { return s.UpdateKeyValue(b("other.aleo"), m, b("k"), b("v")) }, ErrMappingNotFound, []string{"other.aleo", "account"}},
		{"remove absent key", func(s *Store) error { return s.RemoveKeyValue(p, m, b("nobody")) }, nil, nil},
		{"remove key", func(s *Store) error { return s.RemoveKeyValue(p, m, b("alice")) }, nil, nil},
		{"remove key uninitialized", func(s *Store) error { return s.RemoveKeyValue(p, missing, b("k")) }, ErrMappingNotFound, []string{"credits.aleo", "bonded"}},
		{"replace uninitialized", func(s *Store) error { return s.ReplaceMapping(p, missing, nil) }, ErrMappingNotFound, []string{"credits.aleo", "bonded"}},
		{"remove mapping uninitialized", func(s *Store) error { return s.RemoveMapping(p, missing) }, ErrMappingNotFound, []string{"credits.aleo", "bonded"}},
		{"remove program unknown", func(s *Store) error { return s.RemoveProgram(b("other.aleo")) }, ErrProgramNotFound, []string{"other.aleo"}},
		{"get value uninitialized", func(s *Store) error { _, _, err := s.GetValue(p, missing, b("k")); return err }, ErrMappingNotFound, []string{"credits.aleo", "bonded"}},
		{"entries uninitialized", func(s *Store) error { _, err := s.Entries(p, missing); return err }, ErrMappingNotFound, []string{"credits.aleo", "bonded"}},
		{"checkpoint outside batch", func(s *Store) error { return s.AtomicCheckpoint() }, ErrNotInAtomic, nil},
		{"clear checkpoint outside batch", func(s *Store) error { return s.ClearLatestCheckpoint() }, ErrNotInAtomic, nil},
		{"rewind outside batch", func(s *Store) error { return s.AtomicRewind() }, ErrNotInAtomic, nil},
		{"abort outside batch", func(s *Store) error { return s.AbortAtomic() }, ErrNotInAtomic, nil},
		{"finish outside batch", func(s *Store) error { return s.FinishAtomic() }, ErrNotInAtomic, nil},
		{"start twice", func(s *Store) error { mustNil(t, s.StartAtomic()); return s.StartAtomic() }, ErrAtomicInProgress, nil},
		{"finalize in batch", func(s *Store) error {
			mustNil(t, s.StartAtomic())
			return s.Finalize(1, RealRun, func() error { t.Error("fn ran"); return nil })
		}, ErrAtomicInProgress, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup(t)
			before := dump(t, s)
			err := tt.op(s)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			for _, w := range tt.mention {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if len(tt.mention) > 0 {
				var oe *OpError
				if !errors.As(err, &oe) || string(oe.Program) == "" {
					t.Errorf("error %v is not an *OpError with the program", err)
				}
			}
			if after := dump(t, s); after != before {
				t.Errorf("failed operation changed the state:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

func TestOperationsState(t *testing.T) {
	s := NewStore()
	p := b("credits.aleo")
	mustNil(t, s.InitializeMapping(p, b("committee")))
	mustNil(t, s.InitializeMapping(p, b("account")))
	mustNil(t, s.InitializeMapping(b("token.aleo"), b("balances")))
	mustNil(t, s.InsertKeyValue(p, b("account"), b("bob"), b("2")))
	mustNil(t, s.UpdateKeyValue(p, b("account"), b("alice"), b("1")))
	mustNil(t, s.UpdateKeyValue(p, b("account"), b("alice"), b("3")))

	if v, ok, err := s.GetValue(p, b("account"), b("alice")); err != nil || !ok || string(v) != "3" {
		t.Errorf("GetValue alice = %q %v %v", v, ok, err)
	}
	if v, ok, err := s.GetValue(p, b("account"), b("zed")); err != nil || ok || v != nil {
		t.Errorf("GetValue zed = %q %v %v", v, ok, err)
	}
	if ok, _ := s.ContainsKey(p, b("account"), b("bob")); !ok {
		t.Error("ContainsKey bob false")
	}
	if ok, err := s.ContainsKey(p, b("nope"), b("bob")); ok || err != nil {
		t.Errorf("ContainsKey on missing mapping = %v %v, want false nil", ok, err)
	}
	if ok, _ := s.ContainsMapping(p, b("committee")); !ok {
		t.Error("ContainsMapping committee false")
	}
	if ok, _ := s.ContainsProgram(b("token.aleo")); !ok {
		t.Error("ContainsProgram token.aleo false")
	}
	names, _ := s.MappingNames(p)
	if got := fmt.Sprintf("%s", names); got != "[account committee]" {
		t.Errorf("MappingNames = %s", got)
	}
	if names, err := s.MappingNames(b("none.aleo")); names != nil || err != nil {
		t.Errorf("MappingNames(unknown) = %v %v", names, err)
	}
	es, _ := s.Entries(p, b("account"))
	if got := fmt.Sprintf("%s", es); got != "[{alice 3} {bob 2}]" {
		t.Errorf("Entries = %s", got)
	}

	mustNil(t, s.ReplaceMapping(p, b("account"), []Entry{{b("x"), b("1")}, {b("y"), b("2")}, {b("x"), b("9")}}))
	es, _ = s.Entries(p, b("account"))
	if got := fmt.Sprintf("%s", es); got != "[{x 9} {y 2}]" {
		t.Errorf("Entries after replace = %s", got)
	}
	mustNil(t, s.RemoveMapping(p, b("committee")))
	if ok, _ := s.ContainsMapping(p, b("committee")); ok {
		t.Error("committee still there")
	}
	mustNil(t, s.RemoveProgram(p))
	if ok, _ := s.ContainsProgram(p); ok {
		t.Error("program still there")
	}
	if got := dump(t, s); got != "token.aleo/balances" {
		t.Errorf("state = %q", got)
	}
}

// The store copies what it keeps and returns copies: reusing buffers on either side never
// changes the state.
func TestOperationsCopyBytes(t *testing.T) {
	s := NewStore()
	p, m, k, v := b("p"), b("m"), b("key"), b("val")
	mustNil(t, s.InitializeMapping(p, m))
	mustNil(t, s.UpdateKeyValue(p, m, k, v))
	copy(v, "XXX")
	copy(k, "KKK")
	got, ok, _ := s.GetValue(p, m, b("key"))
	if !ok || string(got) != "val" {
		t.Fatalf("value after caller reused buffers = %q %v", got, ok)
	}
	got[0] = 'Z'
	if again, _, _ := s.GetValue(p, m, b("key")); string(again) != "val" {
		t.Fatalf("mutating a returned value changed the state: %q", again)
	}
	es, _ := s.Entries(p, m)
	es[0].Value[0] = 'Z'
	es[0].Key[0] = 'Z'
	if got := dump(t, s); got != "p/m\np/m key=val" {
		t.Fatalf("mutating Entries changed the state:\n%s", got)
	}
}

func TestModeAndHeight(t *testing.T) {
	s := NewStore()
	if s.FinalizeMode() != RealRun || s.IsCanonical() || s.CurrentBlockHeight() != 0 || !s.IsSlipstreamEnabled() {
		t.Fatal("unexpected defaults")
	}
	s.SetCanonical(true)
	if !s.IsCanonical() {
		t.Error("canonical RealRun not canonical")
	}
	s.SetFinalizeMode(DryRun)
	if s.IsCanonical() {
		t.Error("DryRun is canonical")
	}
	s.SetCurrentBlockHeight(42)
	if s.CurrentBlockHeight() != 42 {
		t.Error("height not set")
	}
	if RealRun.String() != "RealRun" || DryRun.String() != "DryRun" || Mode(7).String() != "Mode(7)" {
		t.Error("Mode.String")
	}
}

func TestOpErrorFormat(t *testing.T) {
	err := opErr("update_key_value", b("credits.aleo"), []byte{0, 1}, nil, ErrMappingNotFound)
	want := `finalize: update_key_value: mapping "credits.aleo"/0x0001: mapping is not initialized`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

// failingStorage fails every mutation after a given number of calls.
type failingStorage struct {
	*MemoryStorage
	failPut bool
}

var errDisk = errors.New("disk on fire")

func (f *failingStorage) Put(p, m, k, v []byte) error {
	if f.failPut {
		return errDisk
	}
	return f.MemoryStorage.Put(p, m, k, v)
}

func TestStorageErrorsWrapped(t *testing.T) {
	fs := &failingStorage{MemoryStorage: NewMemoryStorage()}
	s := NewStore(WithStorage(fs))
	mustNil(t, s.InitializeMapping(b("p"), b("m")))
	fs.failPut = true
	err := s.UpdateKeyValue(b("p"), b("m"), b("k"), b("v"))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, errDisk) {
		t.Fatalf("error %v does not wrap ErrStorage and the backend error", err)
	}
}

// TestDefaultLoggerIsGlobal: without WithLogger the store's warnings reach zerolog's global
// logger (stderr by default) instead of vanishing (issue 18.12).
func TestDefaultLoggerIsGlobal(t *testing.T) {
	var buf ctest.LogBuffer
	prev := zlog.Logger
	zlog.Logger = zerolog.New(&buf)
	t.Cleanup(func() { zlog.Logger = prev })
	s := NewStore()
	s.SetSlipstreamPluginManager(nil) // warns: ignored
	if !strings.Contains(buf.String(), "SetSlipstreamPluginManager(nil) ignored") {
		t.Fatalf("the warning did not reach the global logger: %q", buf.String())
	}
}
