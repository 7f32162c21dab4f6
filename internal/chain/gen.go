package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	randv1 "math/rand"
	"math/rand/v2"
	"strconv"
)

// OpMix weighs the kinds of operation the generator draws for a block's ops. The weights
// are relative (they need not sum to 1). An op that cannot be made valid in the current
// state (e.g. a remove_program when no token program is left) becomes an update.
type OpMix struct {
	Update         float64 // update of a key, mostly an existing one (power-law key choice)
	Insert         float64 // insert of a key that is absent
	Remove         float64 // remove of a key, mostly an existing one
	ReplaceMapping float64 // replace_mapping of a small token mapping
	RemoveMapping  float64 // remove_mapping of a token mapping (re-initialized later)
	RemoveProgram  float64 // remove_program of a token program (re-initialized later)
}

// DefaultOpMix is mostly updates, some inserts and removes, an occasional replace_mapping
// and rare mapping and program removals.
var DefaultOpMix = OpMix{
	Update:         0.70,
	Insert:         0.16,
	Remove:         0.12,
	ReplaceMapping: 0.015,
	RemoveMapping:  0.0005,
	RemoveProgram:  0.0001,
}

// GenConfig configures [Generate]. Start from [DefaultGenConfig]; a zero field means zero
// (no ops, no stakers, no aborts…), not "default".
type GenConfig struct {
	Blocks        int     // number of blocks to generate
	StartHeight   uint32  // height of the first block
	OpsPerBlock   int     // ops per block after the genesis block (which initializes everything)
	Stakers       int     // stakers in the staker set, validators included
	Validators    int     // validators among them; 0 means Stakers/20 clamped to [1, 16]
	Seed          uint64  // the same seed and config give the same chain, byte for byte
	AbortRate     float64 // probability that a block (never the first) is aborted, in [0, 1]
	BlockSize     int     // bytes of each block's blob: 32-byte previous hash, u32 height, random payload
	TokenPrograms int     // token programs besides credits.aleo
	KeySpace      int     // distinct keys per large mapping (accounts, balances, …)
	ZipfS         float64 // exponent of the power law of key reuse, > 1
	UnbondRate    float64 // per-block probability that one delegator unbonds (and one new bonds)
	Mix           OpMix   // the mix of operations
}

// DefaultGenConfig returns the defaults of `slipstream gen`.
func DefaultGenConfig() GenConfig {
	return GenConfig{
		Blocks:        1000,
		OpsPerBlock:   32,
		Stakers:       100,
		Seed:          1,
		AbortRate:     0.01,
		BlockSize:     1024,
		TokenPrograms: 3,
		KeySpace:      100_000,
		ZipfS:         1.1,
		UnbondRate:    0.005,
		Mix:           DefaultOpMix,
	}
}

// ErrConfig is matched (errors.Is) by the error Generate returns for an invalid config.
var ErrConfig = errors.New("invalid generator config")

// Validate reports, wrapped in ErrConfig, what makes the config unusable; Generate checks
// the same before it writes anything.
func (c *GenConfig) Validate() error {
	m := c.Mix
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Blocks < 0:
		return bad("blocks %d < 0", c.Blocks)
	case c.OpsPerBlock < 0:
		return bad("ops per block %d < 0", c.OpsPerBlock)
	case c.Stakers < 0:
		return bad("stakers %d < 0", c.Stakers)
	case c.Validators < 0 || (c.Stakers > 0 && c.Validators > c.Stakers):
		return bad("validators %d not in [0, stakers=%d]", c.Validators, c.Stakers)
	case !(c.AbortRate >= 0 && c.AbortRate <= 1):
		return bad("abort rate %v not in [0, 1]", c.AbortRate)
	case !(c.UnbondRate >= 0 && c.UnbondRate <= 1):
		return bad("unbond rate %v not in [0, 1]", c.UnbondRate)
	case c.BlockSize < 0 || c.BlockSize > 1<<30:
		return bad("block size %d not in [0, 1 GiB]", c.BlockSize)
	case c.TokenPrograms < 0 || c.TokenPrograms > 1000:
		return bad("token programs %d not in [0, 1000]", c.TokenPrograms)
	case c.KeySpace < 1 || c.KeySpace > 1<<31:
		return bad("key space %d not in [1, 2^31]", c.KeySpace)
	case !(c.ZipfS > 1):
		return bad("zipf exponent %v must be > 1", c.ZipfS)
	case !(m.Update >= 0 && m.Insert >= 0 && m.Remove >= 0 && m.ReplaceMapping >= 0 && m.RemoveMapping >= 0 && m.RemoveProgram >= 0):
		return bad("op mix weights must be >= 0")
	case c.OpsPerBlock > 0 && m.Update+m.Insert+m.Remove+m.ReplaceMapping+m.RemoveMapping+m.RemoveProgram <= 0:
		return bad("op mix weights are all zero")
	case c.Blocks > 0 && uint64(c.StartHeight)+uint64(c.Blocks)-1 > 1<<32-1:
		return bad("heights beyond 2^32-1")
	}
	return nil
}

// Generate produces cfg.Blocks blocks and calls fn with each, in order; it stops at the first
// error fn returns and returns it. Memory is bounded by the config (the tracked state of at
// most KeySpace keys per mapping), not by the number of blocks.
//
// The block passed to fn, and all its byte slices, are valid only during the call and must
// not be modified: Generate reuses them.
//
// The chain it produces is valid under snarkVM's finalize rules when replayed in order with
// aborted blocks rolled back: the first block initializes every mapping (program ids and
// mapping names are the UTF-8 bytes of their names) and bonds the stakers; later ops touch
// only initialized mappings, insert only absent keys, initialize only absent mappings and
// remove only existing programs; an aborted block's ops and staking changes do not change
// the state the following blocks build on.
func Generate(cfg GenConfig, fn func(*Block) error) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	g := newGenerator(cfg)
	for i := 0; i < cfg.Blocks; i++ {
		b := g.block(cfg.StartHeight+uint32(i), i == 0)
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// Value encodings of the generated mappings.
const (
	valU64  = iota // u64 little-endian (8 bytes)
	valU128        // u128 little-endian (16 bytes)
	valAddr        // a 32-byte address
	valBlob        // a 64-byte record
)

// Key domains: keys of the same domain and index are the same bytes.
const (
	domAddress = iota + 1 // addresses: index i is staker i (validators first)
	domMeta
	domTokenKey // hashes of (token, address) and token ids; the program index is added
)

type mapSpec struct {
	program     []byte
	name        []byte
	prog        int // index of the program
	keySpace    int
	domain      uint64
	val         int
	weight      float64
	noRemove    bool // keys are never removed (committee, metadata)
	replaceable bool // target of replace_mapping
	removable   bool // target of remove_mapping / remove_program
	zipf        *randv1.Zipf
}

// mapState is the tracked content of one mapping: the present keys (by index) and their
// values, in a slice for deterministic uniform choice.
type mapState struct {
	live bool
	keys []uint32
	vals []uint64
	pos  map[uint32]int
}

func (m *mapState) get(k uint32) (uint64, bool) {
	if i, ok := m.pos[k]; ok {
		return m.vals[i], true
	}
	return 0, false
}

func (m *mapState) set(k uint32, v uint64) {
	if i, ok := m.pos[k]; ok {
		m.vals[i] = v
		return
	}
	m.pos[k] = len(m.keys)
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

func (m *mapState) del(k uint32) {
	i, ok := m.pos[k]
	if !ok {
		return
	}
	last := len(m.keys) - 1
	m.keys[i], m.vals[i] = m.keys[last], m.vals[last]
	m.pos[m.keys[i]] = i
	m.keys, m.vals = m.keys[:last], m.vals[:last]
	delete(m.pos, k)
}

func freshMap(live bool) mapState { return mapState{live: live, pos: make(map[uint32]int)} }

// undoRec undoes one change of an aborted block: a key change, or a swap of a whole mapping.
type undoRec struct {
	m     *mapState
	whole bool
	old   mapState // whole: the mapping before
	key   uint32
	had   bool
	val   uint64
}

type stakerState struct {
	addr, validator uint32
	stake           uint64
}

type generator struct {
	cfg      GenConfig
	r        *rand.Rand
	r1       *randv1.Rand
	specs    []mapSpec
	state    []mapState
	programs [][]byte // program ids; 0 is credits.aleo
	progMaps [][]int  // mapping indexes of each program
	cumW     []float64

	stakers    []stakerState
	validators int
	nextAddr   uint32

	logging bool
	undo    []undoRec

	blk      Block
	arena    []byte
	prevHash [32]byte
	addrBuf  []byte
}

// pcgSource lets math/rand (v1), whose Zipf we use, draw from the generator's PCG.
type pcgSource struct{ p *rand.PCG }

func (s pcgSource) Int63() int64    { return int64(s.p.Uint64() >> 1) }
func (s pcgSource) Uint64() uint64  { return s.p.Uint64() }
func (s pcgSource) Seed(seed int64) { s.p.Seed(uint64(seed), 0) }

var tokenNames = []string{"token_registry.aleo", "wrapped_credits.aleo", "arc20_usdx.aleo", "pondo_token.aleo", "ans_registrar.aleo"}

func newGenerator(cfg GenConfig) *generator {
	pcg := rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed_0f_511b5_7ea3)
	g := &generator{cfg: cfg, r: rand.New(pcg), r1: randv1.New(pcgSource{pcg})}
	g.validators = cfg.Validators
	if g.validators == 0 && cfg.Stakers > 0 {
		g.validators = min(max(cfg.Stakers/20, 1), 16)
	}
	ks := cfg.KeySpace
	add := func(prog int, name string, keySpace int, domain uint64, val int, weight float64, flags ...string) {
		s := mapSpec{program: g.programs[prog], name: []byte(name), prog: prog, keySpace: max(keySpace, 1), domain: domain, val: val, weight: weight}
		for _, f := range flags {
			switch f {
			case "noremove":
				s.noRemove = true
			case "replaceable":
				s.replaceable = true
			case "removable":
				s.removable = true
			}
		}
		g.progMaps[prog] = append(g.progMaps[prog], len(g.specs))
		g.specs = append(g.specs, s)
	}
	g.programs = append(g.programs, []byte("credits.aleo"))
	g.progMaps = append(g.progMaps, nil)
	// credits.aleo, in the order of its source.
	add(0, "committee", max(g.validators, 1), domAddress, valU64, 0.02, "noremove")
	add(0, "delegated", max(g.validators, 1), domAddress, valU64, 0.03, "noremove")
	add(0, "metadata", 2, domMeta, valU64, 0.01, "noremove")
	add(0, "bonded", max(cfg.Stakers*2, 16), domAddress, valU64, 0.06)
	add(0, "withdraw", max(cfg.Stakers*2, 16), domAddress, valAddr, 0.03)
	add(0, "account", ks, domAddress, valU64, 0.50)
	tokenWeight := 0.35 / float64(max(cfg.TokenPrograms, 1))
	for t := 0; t < cfg.TokenPrograms; t++ {
		name := "token_" + strconv.Itoa(t) + ".aleo"
		if t < len(tokenNames) {
			name = tokenNames[t]
		}
		prog := len(g.programs)
		g.programs = append(g.programs, []byte(name))
		g.progMaps = append(g.progMaps, nil)
		dom := uint64(domTokenKey + 2*t)
		add(prog, "registered_tokens", 8, dom+1, valBlob, tokenWeight*0.02, "replaceable", "removable")
		add(prog, "balances", ks, dom, valU128, tokenWeight*0.70, "removable")
		add(prog, "authorized_balances", ks, dom, valU128, tokenWeight*0.18, "removable")
		add(prog, "allowances", max(ks/4, 1), dom+1000, valU128, tokenWeight*0.10, "removable")
	}
	total := 0.0
	for i := range g.specs {
		s := &g.specs[i]
		if s.keySpace > 2 {
			s.zipf = randv1.NewZipf(g.r1, cfg.ZipfS, 1, uint64(s.keySpace-1))
		}
		total += s.weight
		g.cumW = append(g.cumW, total)
	}
	g.state = make([]mapState, len(g.specs))
	for i := range g.state {
		g.state[i] = freshMap(false)
	}
	for i := 0; i < cfg.Stakers; i++ {
		v := uint32(i % max(g.validators, 1))
		stake := 10_000_000_000 + g.r.Uint64N(990_000_000_000) // 10k..1M credits, in microcredits
		if i < g.validators {
			v, stake = uint32(i), 10_000_000_000_000+g.r.Uint64N(5_000_000_000_000)
		}
		g.stakers = append(g.stakers, stakerState{addr: uint32(i), validator: v, stake: stake})
	}
	g.nextAddr = uint32(cfg.Stakers)
	return g
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// appendKey appends the 32 bytes of key idx of a domain.
func (g *generator) appendKey(dst []byte, domain uint64, idx uint32) []byte {
	base := splitmix(g.cfg.Seed ^ domain*0x9e3779b97f4a7c15 ^ uint64(idx)<<20)
	for j := uint64(0); j < 4; j++ {
		dst = binary.LittleEndian.AppendUint64(dst, splitmix(base+j))
	}
	return dst
}

func (g *generator) bytesKey(domain uint64, idx uint32) []byte {
	n := len(g.arena)
	g.arena = g.appendKey(g.arena, domain, idx)
	return g.arena[n:len(g.arena):len(g.arena)]
}

func (g *generator) bytesValue(kind int, v uint64) []byte {
	n := len(g.arena)
	switch kind {
	case valU64:
		g.arena = binary.LittleEndian.AppendUint64(g.arena, v)
	case valU128:
		g.arena = binary.LittleEndian.AppendUint64(g.arena, v)
		g.arena = binary.LittleEndian.AppendUint64(g.arena, 0)
	case valAddr:
		g.arena = g.appendKey(g.arena, domAddress, uint32(v))
	case valBlob:
		for j := uint64(0); j < 8; j++ {
			g.arena = binary.LittleEndian.AppendUint64(g.arena, splitmix(v+j))
		}
	}
	return g.arena[n:len(g.arena):len(g.arena)]
}

func (g *generator) emit(op Op) { g.blk.Ops = append(g.blk.Ops, op) }

// Tracked-state changes, logged when the block will be aborted.

func (g *generator) setKey(mi int, k uint32, v uint64) {
	m := &g.state[mi]
	if g.logging {
		old, had := m.get(k)
		g.undo = append(g.undo, undoRec{m: m, key: k, had: had, val: old})
	}
	m.set(k, v)
}

func (g *generator) delKey(mi int, k uint32) {
	m := &g.state[mi]
	if g.logging {
		old, had := m.get(k)
		g.undo = append(g.undo, undoRec{m: m, key: k, had: had, val: old})
	}
	m.del(k)
}

func (g *generator) swapMap(mi int, live bool) {
	m := &g.state[mi]
	if g.logging {
		g.undo = append(g.undo, undoRec{m: m, whole: true, old: *m})
	}
	*m = freshMap(live)
}

func (g *generator) rollback() {
	for i := len(g.undo) - 1; i >= 0; i-- {
		u := &g.undo[i]
		switch {
		case u.whole:
			*u.m = u.old
		case u.had:
			u.m.set(u.key, u.val)
		default:
			u.m.del(u.key)
		}
	}
	clear(g.undo)
	g.undo = g.undo[:0]
}

// Ops. Each checks validity against the tracked state and updates it.

func (g *generator) opInit(mi int) {
	s := &g.specs[mi]
	g.swapMap(mi, true)
	g.emit(Op{Kind: OpInitializeMapping, Program: s.program, Mapping: s.name})
}

func (g *generator) opPut(kind OpKind, mi int, k uint32, v uint64) {
	s := &g.specs[mi]
	if kind == OpInsert {
		if _, ok := g.state[mi].get(k); ok {
			panic("chain: generator inserts a present key") // a bug of this file
		}
	}
	g.setKey(mi, k, v)
	g.emit(Op{Kind: kind, Program: s.program, Mapping: s.name, Key: g.bytesKey(s.domain, k), Value: g.bytesValue(s.val, v)})
}

func (g *generator) opRemove(mi int, k uint32) {
	s := &g.specs[mi]
	g.delKey(mi, k)
	g.emit(Op{Kind: OpRemove, Program: s.program, Mapping: s.name, Key: g.bytesKey(s.domain, k)})
}

// pickKey draws a key index of mapping mi with the power law.
func (g *generator) pickKey(mi int) uint32 {
	s := &g.specs[mi]
	if s.zipf == nil {
		return uint32(g.r.IntN(s.keySpace))
	}
	return uint32(s.zipf.Uint64())
}

// pickMapping draws a mapping by weight; when the drawn one is not initialized, it returns
// it with live false so that the caller initializes it.
func (g *generator) pickMapping(filter func(*mapSpec) bool) (int, bool) {
	for try := 0; try < 16; try++ {
		x := g.r.Float64() * g.cumW[len(g.cumW)-1]
		mi := 0
		for mi < len(g.cumW)-1 && g.cumW[mi] <= x {
			mi++
		}
		if filter == nil || filter(&g.specs[mi]) {
			return mi, g.state[mi].live
		}
	}
	return 0, g.state[0].live // committee: always accepted by every filter used
}

// newValue draws a value for key k of mapping mi: evolves the old value if there is one.
func (g *generator) newValue(mi int, k uint32) uint64 {
	s := &g.specs[mi]
	old, ok := g.state[mi].get(k)
	switch s.val {
	case valAddr:
		return uint64(g.r.IntN(max(g.cfg.KeySpace, 1)))
	case valBlob:
		return g.r.Uint64()
	}
	if !ok || old == 0 {
		return 1 + g.r.Uint64N(1_000_000_000_000)
	}
	delta := g.r.Uint64N(old/8 + 1_000_000)
	if g.r.IntN(2) == 0 && delta < old {
		return old - delta
	}
	return old + delta
}

func (g *generator) randomOp() {
	m := g.cfg.Mix
	x := g.r.Float64() * (m.Update + m.Insert + m.Remove + m.ReplaceMapping + m.RemoveMapping + m.RemoveProgram)
	switch {
	case x < m.Update:
		g.randomPut(OpUpdate)
	case x < m.Update+m.Insert:
		g.randomPut(OpInsert)
	case x < m.Update+m.Insert+m.Remove:
		g.randomRemove()
	case x < m.Update+m.Insert+m.Remove+m.ReplaceMapping:
		g.randomReplace()
	case x < m.Update+m.Insert+m.Remove+m.ReplaceMapping+m.RemoveMapping:
		g.randomRemoveMapping()
	default:
		g.randomRemoveProgram()
	}
}

func (g *generator) randomPut(kind OpKind) {
	mi, live := g.pickMapping(nil)
	if !live {
		g.opInit(mi)
		return
	}
	k := g.pickKey(mi)
	if kind == OpInsert {
		st := &g.state[mi]
		_, present := st.get(k)
		for try := 0; present && try < 8; try++ {
			k = uint32(g.r.IntN(g.specs[mi].keySpace))
			_, present = st.get(k)
		}
		if present {
			kind = OpUpdate // the mapping is (nearly) full
		}
	}
	g.opPut(kind, mi, k, g.newValue(mi, k))
}

func (g *generator) randomRemove() {
	mi, live := g.pickMapping(func(s *mapSpec) bool { return !s.noRemove })
	if !live {
		g.opInit(mi)
		return
	}
	if g.specs[mi].noRemove {
		g.randomPut(OpUpdate)
		return
	}
	k := g.pickKey(mi)
	st := &g.state[mi]
	// Mostly remove a present key; removing an absent one is valid and happens too.
	if _, ok := st.get(k); !ok && len(st.keys) > 0 && g.r.IntN(4) != 0 {
		k = st.keys[g.r.IntN(len(st.keys))]
	}
	g.opRemove(mi, k)
}

// liveCandidate picks uniformly among the live mappings whose spec passes keep. When there is
// none it emits a random update instead and ok is false.
func (g *generator) liveCandidate(keep func(*mapSpec) bool) (mi int, s *mapSpec, ok bool) {
	var cands []int
	for i := range g.specs {
		if keep(&g.specs[i]) && g.state[i].live {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		g.randomPut(OpUpdate)
		return 0, nil, false
	}
	mi = cands[g.r.IntN(len(cands))]
	return mi, &g.specs[mi], true
}

func (g *generator) randomReplace() {
	mi, s, ok := g.liveCandidate(func(s *mapSpec) bool { return s.replaceable })
	if !ok {
		return
	}
	g.swapMap(mi, true)
	n := g.r.IntN(min(s.keySpace, 8) + 1) // 0..8 entries: an empty replacement happens too
	perm := g.r.Perm(s.keySpace)[:n]
	entries := make([]Entry, 0, n)
	for _, k := range perm {
		v := g.newValue(mi, uint32(k))
		g.setKey(mi, uint32(k), v)
		entries = append(entries, Entry{Key: g.bytesKey(s.domain, uint32(k)), Value: g.bytesValue(s.val, v)})
	}
	g.emit(Op{Kind: OpReplaceMapping, Program: s.program, Mapping: s.name, Entries: entries})
}

func (g *generator) randomRemoveMapping() {
	mi, s, ok := g.liveCandidate(func(s *mapSpec) bool { return s.removable })
	if !ok {
		return
	}
	g.swapMap(mi, false)
	g.emit(Op{Kind: OpRemoveMapping, Program: s.program, Mapping: s.name})
}

func (g *generator) randomRemoveProgram() {
	var cands []int
	for p := 1; p < len(g.programs); p++ {
		for _, mi := range g.progMaps[p] {
			if g.state[mi].live {
				cands = append(cands, p)
				break
			}
		}
	}
	if len(cands) == 0 {
		g.randomPut(OpUpdate)
		return
	}
	p := cands[g.r.IntN(len(cands))]
	for _, mi := range g.progMaps[p] {
		if g.state[mi].live {
			g.swapMap(mi, false)
		}
	}
	g.emit(Op{Kind: OpRemoveProgram, Program: g.programs[p]})
}

// genesis initializes every mapping and bonds the stakers.
func (g *generator) genesis() {
	for mi := range g.specs {
		g.opInit(mi)
	}
	const committee, delegated, metadata, bonded, account = 0, 1, 2, 3, 5
	total := make([]uint64, max(g.validators, 1))
	for _, s := range g.stakers {
		total[s.validator] += s.stake
		g.opPut(OpInsert, bonded, s.addr, s.stake)
		g.opPut(OpInsert, account, s.addr, 1_000_000_000+g.r.Uint64N(100_000_000_000))
	}
	for v := 0; v < g.validators; v++ {
		g.opPut(OpInsert, committee, uint32(v), total[v])
		g.opPut(OpInsert, delegated, uint32(v), total[v])
	}
	g.opPut(OpInsert, metadata, 0, uint64(g.validators))
	g.opPut(OpInsert, metadata, 1, uint64(len(g.stakers)-g.validators))
}

// staking fills the staker sets of the block: current is the tracked set; next has the
// stakes after this block's rewards, without a delegator that unbonds, with a new one that
// bonds. The tracked set becomes next unless the block is aborted.
func (g *generator) staking(aborted bool) {
	b := &g.blk
	b.Current, b.Next = b.Current[:0], b.Next[:0]
	for _, s := range g.stakers {
		b.Current = append(b.Current, StakerEntry{Staker: g.bytesKey(domAddress, s.addr), Validator: g.bytesKey(domAddress, s.validator), Stake: s.stake})
	}
	if len(g.stakers) == 0 {
		return
	}
	next := make([]stakerState, 0, len(g.stakers)+1)
	unbond := -1
	if len(g.stakers) > g.validators && g.r.Float64() < g.cfg.UnbondRate {
		unbond = g.validators + g.r.IntN(len(g.stakers)-g.validators)
	}
	for i, s := range g.stakers {
		if i == unbond {
			continue
		}
		if g.r.IntN(10) != 0 { // most earn a reward of about 1e-8 of their stake per block
			s.stake += s.stake/100_000_000 + g.r.Uint64N(s.stake/200_000_000+1)
		}
		next = append(next, s)
	}
	if unbond >= 0 { // a newcomer keeps the set's size
		next = append(next, stakerState{addr: g.nextAddr, validator: uint32(g.r.IntN(max(g.validators, 1))), stake: 10_000_000_000 + g.r.Uint64N(100_000_000_000)})
	}
	for _, s := range next {
		b.Next = append(b.Next, StakerEntry{Staker: g.bytesKey(domAddress, s.addr), Validator: g.bytesKey(domAddress, s.validator), Stake: s.stake})
	}
	if !aborted {
		g.stakers = next
		if unbond >= 0 {
			g.nextAddr++
		}
	}
}

// blob fills the block's bytes: the previous block's hash, the height, a random payload.
func (g *generator) blob(height uint32) {
	n := len(g.arena)
	g.arena = append(g.arena, g.prevHash[:]...)
	g.arena = binary.LittleEndian.AppendUint32(g.arena, height)
	for len(g.arena)-n < g.cfg.BlockSize {
		g.arena = binary.LittleEndian.AppendUint64(g.arena, g.r.Uint64())
	}
	g.blk.Bytes = g.arena[n : n+g.cfg.BlockSize : n+g.cfg.BlockSize]
	g.prevHash = sha256.Sum256(g.blk.Bytes)
}

func (g *generator) block(height uint32, first bool) *Block {
	b := &g.blk
	clear(b.Ops)
	b.Ops = b.Ops[:0]
	g.arena = g.arena[:0]
	b.Height = height
	b.Aborted = !first && g.cfg.AbortRate > 0 && g.r.Float64() < g.cfg.AbortRate
	g.logging = b.Aborted
	if first {
		g.genesis()
	} else {
		for i := 0; i < g.cfg.OpsPerBlock; i++ {
			g.randomOp()
		}
	}
	g.staking(b.Aborted)
	g.blob(height)
	if b.Aborted {
		g.rollback()
	}
	g.logging = false
	return b
}
