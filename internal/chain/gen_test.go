package chain

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/slipstream-go/slipstream/internal/iocount"
)

func genBytes(t testing.TB, cfg GenConfig) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := Generate(cfg, w.Write); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := DefaultGenConfig()
	cfg.Blocks, cfg.AbortRate = 200, 0.05
	a, b := genBytes(t, cfg), genBytes(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different output")
	}
	cfg.Seed++
	if c := genBytes(t, cfg); bytes.Equal(a, c) {
		t.Fatal("different seeds, same output")
	}
	// Golden hash of a small chain: catches any change of the output for a given seed (a
	// deliberate change of the generator updates it).
	small := DefaultGenConfig()
	small.Blocks, small.Seed, small.Stakers = 50, 42, 200
	const golden = "be176877e19dbca85bc34366286954f70a7aa973030249f80e423a8d8e5ea2e9"
	if sum := fmt.Sprintf("%x", sha256.Sum256(genBytes(t, small))); sum != golden {
		t.Errorf("sha256 of the 50-block chain with seed 42 is %s, was %s: the output for a seed changed", sum, golden)
	}
}

// model is an independent implementation of snarkVM's finalize rules on program → mapping →
// key → value, to check that generated ops are valid.
type model map[string]map[string]map[string]string

func (m model) clone() model {
	c := make(model, len(m))
	for p, ms := range m {
		c[p] = make(map[string]map[string]string, len(ms))
		for name, kv := range ms {
			c[p][name] = maps.Clone(kv)
		}
	}
	return c
}

func (m model) apply(op *Op) error {
	p, name, k := string(op.Program), string(op.Mapping), string(op.Key)
	kv, live := m[p][name]
	needLive := func() error {
		if !live {
			return fmt.Errorf("%v on mapping %s/%s that is not initialized", op.Kind, p, name)
		}
		return nil
	}
	switch op.Kind {
	case OpInitializeMapping:
		if live {
			return fmt.Errorf("initialize_mapping of existing mapping %s/%s", p, name)
		}
		if m[p] == nil {
			m[p] = map[string]map[string]string{}
		}
		m[p][name] = map[string]string{}
	case OpInsert:
		if err := needLive(); err != nil {
			return err
		}
		if _, ok := kv[k]; ok {
			return fmt.Errorf("insert of existing key %x in %s/%s", k, p, name)
		}
		kv[k] = string(op.Value)
	case OpUpdate:
		if err := needLive(); err != nil {
			return err
		}
		kv[k] = string(op.Value)
	case OpRemove:
		if err := needLive(); err != nil {
			return err
		}
		delete(kv, k)
	case OpReplaceMapping:
		if err := needLive(); err != nil {
			return err
		}
		n := map[string]string{}
		for _, e := range op.Entries {
			n[string(e.Key)] = string(e.Value)
		}
		m[p][name] = n
	case OpRemoveMapping:
		if err := needLive(); err != nil {
			return err
		}
		delete(m[p], name)
		if len(m[p]) == 0 {
			delete(m, p)
		}
	case OpRemoveProgram:
		if len(m[p]) == 0 {
			return fmt.Errorf("remove_program of unknown program %s", p)
		}
		delete(m, p)
	default:
		return fmt.Errorf("bad op kind %v", op.Kind)
	}
	return nil
}

func TestGenerateValid(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			cfg := DefaultGenConfig()
			cfg.Seed, cfg.Blocks, cfg.OpsPerBlock, cfg.Stakers = seed, 1500, 40, 40
			cfg.AbortRate, cfg.KeySpace, cfg.UnbondRate = 0.1, 500, 0.05 // small key space: many collisions
			cfg.Mix.ReplaceMapping, cfg.Mix.RemoveMapping, cfg.Mix.RemoveProgram = 0.03, 0.01, 0.005
			checkChain(t, cfg)
		})
	}
	t.Run("tiny", func(t *testing.T) {
		cfg := DefaultGenConfig()
		cfg.Blocks, cfg.OpsPerBlock, cfg.Stakers, cfg.KeySpace, cfg.TokenPrograms, cfg.BlockSize = 300, 10, 1, 1, 0, 0
		checkChain(t, cfg)
	})
	t.Run("no stakers", func(t *testing.T) {
		cfg := DefaultGenConfig()
		cfg.Blocks, cfg.Stakers, cfg.BlockSize = 50, 0, 7
		checkChain(t, cfg)
	})
}

// checkChain generates cfg's chain and checks every op against the model (aborted blocks on
// a copy that is thrown away), the staker sets, the heights and the block bytes.
func checkChain(t *testing.T, cfg GenConfig) {
	t.Helper()
	m := model{}
	var stakers []StakerEntry
	counts := map[OpKind]int{}
	aborted, blocks := 0, 0
	var prevBytes []byte
	err := Generate(cfg, func(b *Block) error {
		if err := b.Validate(); err != nil {
			return err
		}
		if want := cfg.StartHeight + uint32(blocks); b.Height != want {
			return fmt.Errorf("height %d, want %d", b.Height, want)
		}
		if len(b.Bytes) != cfg.BlockSize {
			return fmt.Errorf("block %d: %d bytes, want %d", b.Height, len(b.Bytes), cfg.BlockSize)
		}
		if prevBytes != nil && cfg.BlockSize >= 32 {
			if h := sha256.Sum256(prevBytes); !bytes.Equal(b.Bytes[:32], h[:]) {
				return fmt.Errorf("block %d does not start with the previous block's hash", b.Height)
			}
		}
		prevBytes = bytes.Clone(b.Bytes)
		if blocks == 0 && b.Aborted {
			return errors.New("the first block is aborted")
		}
		blocks++
		target := m
		if b.Aborted {
			aborted++
			target = m.clone()
		}
		for i := range b.Ops {
			counts[b.Ops[i].Kind]++
			if err := target.apply(&b.Ops[i]); err != nil {
				return fmt.Errorf("block %d op %d: %w", b.Height, i, err)
			}
		}
		if blocks > 1 && !stakersEqual(b.Current, stakers) {
			return fmt.Errorf("block %d: current staker set is not the previous committed next set", b.Height)
		}
		if len(b.Current) != cfg.Stakers && blocks == 1 {
			return fmt.Errorf("block %d: %d stakers, want %d", b.Height, len(b.Current), cfg.Stakers)
		}
		for _, s := range b.Next {
			for _, c := range b.Current {
				if bytes.Equal(s.Staker, c.Staker) && s.Stake < c.Stake {
					return fmt.Errorf("block %d: a stake decreased", b.Height)
				}
			}
		}
		if !b.Aborted {
			stakers = cloneStakers(b.Next)
		} else if blocks == 1 {
			stakers = cloneStakers(b.Current)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if blocks != cfg.Blocks {
		t.Fatalf("%d blocks, want %d", blocks, cfg.Blocks)
	}
	t.Logf("ops: %v; aborted blocks: %d of %d", counts, aborted, blocks)
	if cfg.OpsPerBlock >= 40 && cfg.Blocks >= 1000 {
		for k := OpInitializeMapping; k <= OpRemoveProgram; k++ {
			if counts[k] == 0 {
				t.Errorf("no %v op in %d blocks", k, blocks)
			}
		}
		if aborted == 0 {
			t.Error("no aborted block")
		}
	}
}

func cloneStakers(s []StakerEntry) []StakerEntry {
	c := make([]StakerEntry, len(s))
	for i, e := range s {
		c[i] = StakerEntry{bytes.Clone(e.Staker), bytes.Clone(e.Validator), e.Stake}
	}
	return c
}

func TestGenerateStakingChanges(t *testing.T) {
	cfg := DefaultGenConfig()
	cfg.Blocks, cfg.Stakers, cfg.UnbondRate, cfg.OpsPerBlock = 400, 50, 0.2, 1
	grew, unbonded := 0, 0
	err := Generate(cfg, func(b *Block) error {
		if len(b.Current) != 50 || len(b.Next) != 50 {
			return fmt.Errorf("block %d: set sizes %d, %d", b.Height, len(b.Current), len(b.Next))
		}
		cur := map[string]uint64{}
		for _, s := range b.Current {
			cur[string(s.Staker)] = s.Stake
		}
		for _, s := range b.Next {
			if old, ok := cur[string(s.Staker)]; ok && s.Stake > old {
				grew++
			}
			delete(cur, string(s.Staker))
		}
		unbonded += len(cur)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if grew < 400*50/2 || unbonded < 20 {
		t.Fatalf("grew %d, unbonded %d: rewards or unbonding missing", grew, unbonded)
	}
}

func TestGenerateConfigErrors(t *testing.T) {
	mods := map[string]func(*GenConfig){
		"negative blocks":  func(c *GenConfig) { c.Blocks = -1 },
		"abort rate":       func(c *GenConfig) { c.AbortRate = 1.5 },
		"NaN abort rate":   func(c *GenConfig) { c.AbortRate = zero / zero },
		"zipf":             func(c *GenConfig) { c.ZipfS = 1 },
		"key space":        func(c *GenConfig) { c.KeySpace = 0 },
		"zero mix":         func(c *GenConfig) { c.Mix = OpMix{} },
		"validators":       func(c *GenConfig) { c.Validators = c.Stakers + 1 },
		"height overflow":  func(c *GenConfig) { c.StartHeight = 1<<32 - 10 },
		"negative weights": func(c *GenConfig) { c.Mix.Remove = -1 },
	}
	for name, mod := range mods {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultGenConfig()
			mod(&cfg)
			called := false
			err := Generate(cfg, func(*Block) error { called = true; return nil })
			if !errors.Is(err, ErrConfig) || called {
				t.Fatalf("got %v (called %v)", err, called)
			}
		})
	}
	boom := errors.New("stop")
	n := 0
	cfg := DefaultGenConfig()
	if err := Generate(cfg, func(*Block) error { n++; return boom }); err != boom || n != 1 {
		t.Fatalf("callback error not returned at once: %v after %d", err, n)
	}
}

var zero float64

func TestEventCount(t *testing.T) {
	p, m, k := []byte("p"), []byte("m"), []byte("k")
	b := &Block{
		Ops: []Op{
			{Kind: OpInitializeMapping, Program: p, Mapping: m},
			{Kind: OpInsert, Program: p, Mapping: m, Key: k, Value: k},
			{Kind: OpReplaceMapping, Program: p, Mapping: m, Entries: []Entry{{k, k}, {p, p}}},
			{Kind: OpRemoveProgram, Program: p},
		},
		Current: []StakerEntry{{p, p, 1}, {m, p, 1}},
	}
	if n := b.EventCount(); n != 1+2+1+2+1 {
		t.Fatalf("EventCount = %d", n)
	}
	b.Aborted = true
	if n := b.EventCount(); n != 1 {
		t.Fatalf("aborted EventCount = %d", n)
	}
}

func TestOpKindNames(t *testing.T) {
	for k := OpInitializeMapping; k <= OpRemoveProgram; k++ {
		got, err := ParseOpKind(k.String())
		if err != nil || got != k {
			t.Fatalf("ParseOpKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseOpKind("upsert"); !errors.Is(err, ErrUnknownOp) {
		t.Fatal(err)
	}
	if OpKind(0).Valid() || OpKind(8).Valid() || OpKind(9).String() != "OpKind(9)" {
		t.Fatal("invalid kinds")
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultGenConfig()
	cfg.Blocks = b.N
	n := iocount.Writer{W: discard{}}
	w := NewWriter(&n)
	b.ResetTimer()
	if err := Generate(cfg, w.Write); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n.N / int64(max(b.N, 1)))
}

// BenchmarkRead reads a generated chain: each block new (Next), and each handed back for the
// next one (NextReusing, as slipstream replay does).
func BenchmarkRead(b *testing.B) {
	cfg := DefaultGenConfig()
	cfg.Blocks = 2000
	data := genBytes(b, cfg)
	for _, reuse := range []bool{false, true} {
		b.Run(map[bool]string{false: "new", true: "reusing"}[reuse], func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := NewReader(bytes.NewReader(data), "bench")
				var old *Block
				for {
					blk, err := r.NextReusing(old)
					if err != nil {
						break
					}
					if reuse {
						old = blk
					}
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
