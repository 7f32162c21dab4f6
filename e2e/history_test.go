package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/historydb"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
	"github.com/slipstream-go/slipstream/internal/testpg"
)

// The random chain of the history test: a few programs and mappings with small key spaces,
// so that keys are written, removed, replaced and re-inserted many times.
type mappingSpec struct {
	program, mapping []byte
	keys             int  // key indexes 0 … keys-1 are written; sampling also asks a few more
	removable        bool // target of remove_mapping (and of remove_program: all token mappings are)
	replaceable      bool // target of replace_mapping
}

var histMappings = []mappingSpec{
	{[]byte("credits.aleo"), []byte("account"), 24, false, false},
	{[]byte("credits.aleo"), []byte("bonded"), 10, false, true},
	{[]byte("token_a.aleo"), []byte("balances"), 24, true, true},
	{[]byte("token_a.aleo"), []byte("meta"), 6, true, true},
	{[]byte{0x00, 't', 'o', 'k', 0xff}, []byte{0x01, 0x00, 0x02}, 16, true, false},
}

// histKey is the encoding of key index i: binary, with zero bytes.
func histKey(i int) []byte { return []byte{0x00, byte(i), 0xff, 'k', 0x00} }

var errRejected = errors.New("block rejected")

// histChain generates and drives a seeded random chain block by block. The chain depends
// only on the seed and on the store's state (which the chain itself produced), never on
// whether a plugin manager is installed: a second histChain with the same seed, driving a
// fresh store, replays exactly the same blocks.
type histChain struct {
	rng      *rand.Rand
	stakers  []finalize.Staker // the current staker set
	newbies  int
	rewards  map[rewardKey]historydb.Reward // expected staking_rewards rows (committed blocks)
	blocks   map[uint32][]byte              // expected blocks rows
	aborted  int
	dryRuns  int
	replaced int // replace_mapping ops committed or not
	dropped  int // keys those replacements dropped (each a keyed MappingRemoval)
	moved    int // stakers that moved to another validator
}

type rewardKey struct {
	staker string
	height uint32
}

func newHistChain(seed uint64) *histChain {
	c := &histChain{
		rng:     rand.New(rand.NewPCG(seed, seed^0x5eed)),
		rewards: map[rewardKey]historydb.Reward{},
		blocks:  map[uint32][]byte{},
	}
	for i := range 6 {
		st := finalize.Staker{Address: stakerAddr(i), Validator: stakerAddr(i % 2), Stake: 1_000_000 + uint64(i)*1000}
		if i == 5 { // stakes above 2^63: stored as negative int64s, read back as uint64
			st.Stake = 1<<63 + 5_000_000_000
		}
		c.stakers = append(c.stakers, st)
	}
	c.newbies = 6
	return c
}

func stakerAddr(i int) []byte {
	a := make([]byte, 32)
	a[0] = 0xa1
	binary.LittleEndian.PutUint32(a[28:], uint32(i))
	return a
}

func (c *histChain) value() []byte {
	v := make([]byte, 8+8*c.rng.IntN(3)) // u64, u128 or 24 bytes
	for i := range v {
		v[i] = byte(c.rng.Uint32())
	}
	return v
}

// mapping returns a random mapping, initialized first if it does not exist (after a
// mapping or program removal).
func (c *histChain) mapping(s *finalize.Store, filter func(mappingSpec) bool) (mappingSpec, error) {
	var cands []mappingSpec
	for _, m := range histMappings {
		if filter == nil || filter(m) {
			cands = append(cands, m)
		}
	}
	m := cands[c.rng.IntN(len(cands))]
	ok, err := s.ContainsMapping(m.program, m.mapping)
	if err == nil && !ok {
		err = s.InitializeMapping(m.program, m.mapping)
	}
	return m, err
}

// write performs one random key write: update, insert of an absent key, or removal.
func (c *histChain) write(s *finalize.Store) error {
	m, err := c.mapping(s, nil)
	if err != nil {
		return err
	}
	k := histKey(c.rng.IntN(m.keys))
	switch r := c.rng.IntN(100); {
	case r < 60:
		return s.UpdateKeyValue(m.program, m.mapping, k, c.value())
	case r < 75:
		for range 4 {
			if ok, err := s.ContainsKey(m.program, m.mapping, k); err != nil || !ok {
				if err != nil {
					return err
				}
				return s.InsertKeyValue(m.program, m.mapping, k, c.value())
			}
			k = histKey(c.rng.IntN(m.keys))
		}
		return s.UpdateKeyValue(m.program, m.mapping, k, c.value())
	default:
		return s.RemoveKeyValue(m.program, m.mapping, k) // absent keys too (no event)
	}
}

// ops runs a block's random operations on s.
func (c *histChain) ops(s *finalize.Store) error {
	n := 1 + c.rng.IntN(6)
	for range n {
		var err error
		switch r := c.rng.IntN(1000); {
		case r < 850:
			err = c.write(s)
		case r < 900: // a failed transaction: its writes are rewound
			if err = s.AtomicCheckpoint(); err == nil {
				for range 1 + c.rng.IntN(3) {
					if err = c.write(s); err != nil {
						break
					}
				}
				if err == nil {
					err = s.AtomicRewind()
				}
			}
		case r < 920: // a successful transaction behind a checkpoint
			if err = s.AtomicCheckpoint(); err == nil {
				if err = c.write(s); err == nil {
					err = s.ClearLatestCheckpoint()
				}
			}
		case r < 960:
			var m mappingSpec
			if m, err = c.mapping(s, func(m mappingSpec) bool { return m.replaceable }); err == nil {
				var entries []finalize.Entry
				for _, i := range c.rng.Perm(m.keys)[:c.rng.IntN(min(m.keys, 6)+1)] {
					entries = append(entries, finalize.Entry{Key: histKey(i), Value: c.value()})
				}
				c.replaced++
				c.dropped += droppedKeys(s, m, entries)
				err = s.ReplaceMapping(m.program, m.mapping, entries)
			}
		case r < 985:
			var m mappingSpec
			if m, err = c.mapping(s, func(m mappingSpec) bool { return m.removable }); err == nil {
				err = s.RemoveMapping(m.program, m.mapping)
			}
		default:
			var m mappingSpec
			if m, err = c.mapping(s, func(m mappingSpec) bool { return m.removable }); err == nil {
				err = s.RemoveProgram(m.program)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// droppedKeys counts the keys of m that a replacement by entries drops (reads the store only).
func droppedKeys(s *finalize.Store, m mappingSpec, entries []finalize.Entry) int {
	old, err := s.Entries(m.program, m.mapping)
	if err != nil {
		return 0
	}
	n := 0
	for _, o := range old {
		if !slices.ContainsFunc(entries, func(e finalize.Entry) bool { return bytes.Equal(e.Key, o.Key) }) {
			n++
		}
	}
	return n
}

// nextStakers returns the staker set after the block's rewards: most stakes grow a little,
// some shrink (reward 0), now and then a staker unbonds and a newcomer bonds.
func (c *histChain) nextStakers() []finalize.Staker {
	next := make([]finalize.Staker, 0, len(c.stakers)+1)
	for _, st := range c.stakers {
		switch r := c.rng.IntN(100); {
		case r < 10:
			st.Stake -= uint64(c.rng.IntN(100))
		case r < 20:
		case r < 23 && !bytes.Equal(st.Address, st.Validator): // moves to the other validator
			st.Validator = stakerAddr(1 - int(st.Validator[28]&1)) // the reward row names the new one
			c.moved++
			st.Stake += uint64(c.rng.IntN(5000))
		default:
			st.Stake += uint64(c.rng.IntN(5000))
		}
		next = append(next, st)
	}
	if c.rng.IntN(100) < 4 && len(next) > 3 {
		i := 2 + c.rng.IntN(len(next)-2) // validators 0 and 1 stay
		next = slices.Delete(next, i, i+1)
		next = append(next, finalize.Staker{Address: stakerAddr(c.newbies), Validator: stakerAddr(c.newbies % 2), Stake: 10_000})
		c.newbies++
	}
	return next
}

// block finalizes block h in s as a node does (the finalize package doc's wiring): a dry
// run now and then, then Finalize with RealRun whose fn makes the writes, pays the staking
// rewards and reports the block (an aborted block's fn fails after that: its Block event
// is dropped with the rest of it).
func (c *histChain) block(s *finalize.Store, h uint32) error {
	if h > 1 && c.rng.IntN(100) < 2 {
		c.dryRuns++
		if err := s.Finalize(h, finalize.DryRun, func() error { return c.ops(s) }); err != nil {
			return fmt.Errorf("dry run of block %d: %w", h, err)
		}
	}
	abort := h > 1 && c.rng.IntN(100) < 3
	next := c.nextStakers()
	blk := make([]byte, 40+c.rng.IntN(200))
	binary.LittleEndian.PutUint32(blk, h)
	for i := 4; i < len(blk); i++ {
		blk[i] = byte(c.rng.Uint32())
	}
	err := s.Finalize(h, finalize.RealRun, func() error {
		if h == 1 {
			for _, m := range histMappings {
				if err := s.InitializeMapping(m.program, m.mapping); err != nil {
					return err
				}
			}
		}
		if err := c.ops(s); err != nil {
			return err
		}
		s.NotifyStakingRewards(c.stakers, next, h)
		if err := s.NotifyBlock(blk, h); err != nil {
			return err
		}
		if abort {
			return errRejected
		}
		return nil
	})
	switch {
	case abort && errors.Is(err, errRejected):
		c.aborted++
	case err != nil:
		return fmt.Errorf("block %d: %w", h, err)
	default:
		// snarkVM's rule: validator and new stake from the next set; a staker that left it
		// keeps its current validator and stake, reward 0; a newcomer gets no row.
		for _, cur := range c.stakers {
			r := historydb.Reward{Validator: cur.Validator, NewStake: cur.Stake}
			if i := slices.IndexFunc(next, func(n finalize.Staker) bool { return bytes.Equal(n.Address, cur.Address) }); i >= 0 {
				r.Validator, r.NewStake = next[i].Validator, next[i].Stake
				if next[i].Stake > cur.Stake {
					r.Reward = next[i].Stake - cur.Stake
				}
			}
			c.rewards[rewardKey{string(cur.Address), h}] = r
		}
		c.stakers = next
		c.blocks[h] = blk // committed blocks only
	}
	return nil
}

// sample is one (program, mapping, key, height) tuple and the store's answer at the end
// of that block.
type sample struct {
	m      mappingSpec
	key    []byte
	height uint32
	value  []byte
	found  bool
}

func storeValue(t *testing.T, s *finalize.Store, m mappingSpec, key []byte) ([]byte, bool) {
	t.Helper()
	v, ok, err := s.GetValue(m.program, m.mapping, key)
	switch {
	case errors.Is(err, finalize.ErrMappingNotFound):
		return nil, false
	case err != nil:
		t.Fatal(err)
	}
	return v, ok
}

// allKeys samples every key of every mapping (plus two never written) at height h.
func allKeys(t *testing.T, s *finalize.Store, h uint32) []sample {
	var out []sample
	for _, m := range histMappings {
		for i := range m.keys + 2 {
			v, ok := storeValue(t, s, m, histKey(i))
			out = append(out, sample{m, histKey(i), h, v, ok})
		}
	}
	return out
}

// counter is a Go-native plugin counting what the history plugin should store: one
// mapping_history row per keyed mapping event, one mapping_removals row per keyless
// removal, one staking_rewards row per reward, one blocks row per block.
type counter struct{ rows map[string]int }

var _ host.Plugin = (*counter)(nil)

func (c *counter) Name() string                    { return "counter" }
func (c *counter) OnLoad(string, bool) error       { return nil }
func (c *counter) OnUnload()                       {}
func (c *counter) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (c *counter) OnBroadcast(ev abi.Event) error {
	switch {
	case ev.Kind == abi.MappingUpdate || ev.Kind == abi.MappingRemoval && ev.HasKey:
		c.rows["mapping_history"]++
	case ev.Kind == abi.MappingRemoval:
		c.rows["mapping_removals"]++
	case ev.Kind == abi.StakingReward:
		c.rows["staking_rewards"]++
	case ev.Kind == abi.Block:
		c.rows["blocks"]++
	}
	return nil
}

var histTables = []string{"mapping_history", "mapping_removals", "staking_rewards", "blocks"}

// backend is one database the history plugin writes to.
type backend struct {
	dialect historydb.Dialect
	schema  string
	config  []string // the plugin's config keys beside libpath
	open    func() (*sql.DB, error)
}

func (b backend) table(name string) string {
	if b.dialect == historydb.Postgres {
		return b.schema + "." + name
	}
	return name
}

// mustLoad registers the Go plugins gos on m, in order, then loads the plugin of the config
// cfg; it returns the loaded plugin's name.
func mustLoad(t *testing.T, m *host.Manager, cfg string, gos ...host.Plugin) string {
	t.Helper()
	for _, p := range gos {
		if _, err := m.Register(p, ""); err != nil {
			t.Fatal(err)
		}
	}
	name, err := m.LoadPlugin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// Issue 4, proof: a seeded random chain of 2,000 blocks (updates, inserts, removals,
// replacements, mapping and program removals, rewound transactions, aborted blocks, dry
// runs, staking rewards with stakers leaving and joining) driven through finalize.Store
// into the history plugin, for SQLite and for a private PostgreSQL 15 server. After
// Unload, historydb must answer, for every sampled (program, mapping, key,
// height) tuple (present and absent keys; every key at a few heights), exactly what the
// store held at the end of that block; every staking reward and block row must be the
// expected one, and every table must hold exactly one row per event delivered. Then the
// last 100 blocks are delivered a second time (a new manager on the same database, fed by a
// second store rebuilt by replaying the chain from the start without a manager): the same
// answers, and no table gains a row.
func TestHistoryPluginRandomChain(t *testing.T) {
	lib := ctest.HistoryPlugin(t)
	blocks, replay := 2000, 100
	if testing.Short() {
		blocks = 400
	}
	backends := []struct {
		name string
		make func(t *testing.T, dir string) backend
	}{
		{"sqlite", func(t *testing.T, dir string) backend {
			return backend{historydb.SQLite, "", []string{"sqlite", `"hist.db"`},
				func() (*sql.DB, error) { return historydb.OpenSQLite(filepath.Join(dir, "hist.db")) }}
		}},
		{"postgres", func(t *testing.T, dir string) backend {
			srv := testpg.Start(t)
			return backend{historydb.Postgres, "e2e_hist", []string{"postgres", strconv.Quote(srv.DSN), "schema", `"e2e_hist"`},
				func() (*sql.DB, error) { return historydb.OpenPostgres(srv.DSN) }}
		}},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			be := bk.make(t, dir)
			cfg := writeConfig(t, dir, "history.json5", lib, be.config...)
			const seed = 20240917
			ctx := t.Context()

			// First run: every block, sampling the store as it goes.
			m, logs := newManager(t)
			cnt := &counter{rows: map[string]int{}}
			sent := newGoRecorder("sent")
			name := mustLoad(t, m, cfg, cnt, sent)
			s := finalize.NewStore()
			s.SetSlipstreamPluginManager(m)
			chain := newHistChain(seed)
			pick := rand.New(rand.NewPCG(seed, 1)) // sampling never touches the chain's generator
			var samples []sample
			perBlock := max(1, 600/blocks)
			for h := uint32(1); h <= uint32(blocks); h++ {
				if err := chain.block(s, h); err != nil {
					t.Fatal(err)
				}
				if h%uint32(max(1, blocks/600)) == 0 || h == 1 {
					for range perBlock {
						m := histMappings[pick.IntN(len(histMappings))]
						k := histKey(pick.IntN(m.keys + 2))
						v, ok := storeValue(t, s, m, k)
						samples = append(samples, sample{m, k, h, v, ok})
					}
				}
				if h%500 == 0 || h == uint32(blocks)-uint32(replay) {
					samples = append(samples, allKeys(t, s, h)...)
				}
			}
			samples = append(samples, allKeys(t, s, uint32(blocks))...)
			info := pluginInfo(t, m, name)
			m.Unload()
			if c := info.Counters; c.Errors != 0 {
				t.Fatalf("the history plugin failed %d times; last: %s\n%s", c.Errors, c.LastError, logs)
			}
			present := 0
			for _, sm := range samples {
				if sm.found {
					present++
				}
			}
			t.Logf("%d blocks (%d aborted, %d dry runs, %d replacements dropping %d keys, %d validator moves), "+
				"%d events, %d samples (%d present); rows %v", blocks, chain.aborted, chain.dryRuns, chain.replaced,
				chain.dropped, chain.moved, len(sent.Events()), len(samples), present, cnt.rows)
			if len(samples) < 200 || present < 50 || len(samples)-present < 50 || chain.aborted == 0 ||
				chain.dryRuns == 0 || chain.replaced == 0 || chain.dropped == 0 || chain.moved == 0 ||
				cnt.rows["mapping_removals"] == 0 {
				t.Fatal("the chain or the sample does not cover what the proof needs")
			}

			db, err := be.open()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			check := func(t *testing.T) {
				t.Helper()
				checkSamples(t, ctx, db, be, samples)
				checkRewards(t, ctx, db, be, chain, uint32(blocks))
				checkBlocks(t, ctx, db, be, chain.blocks)
				if got := rowCounts(t, ctx, db, be); !mapsEqual(got, cnt.rows) {
					t.Errorf("row counts %v, want one per event delivered: %v", got, cnt.rows)
				}
			}
			check(t)
			if t.Failed() {
				return
			}

			// Second run: a fresh store rebuilt silently up to the last `replay` blocks, then
			// a new manager on the same database receives those blocks again.
			s2 := finalize.NewStore()
			chain2 := newHistChain(seed)
			from := uint32(blocks - replay + 1)
			for h := uint32(1); h < from; h++ {
				if err := chain2.block(s2, h); err != nil {
					t.Fatal(err)
				}
			}
			m2, logs2 := newManager(t)
			sent2 := newGoRecorder("sent")
			name2 := mustLoad(t, m2, cfg, sent2)
			s2.SetSlipstreamPluginManager(m2)
			for h := from; h <= uint32(blocks); h++ {
				if err := chain2.block(s2, h); err != nil {
					t.Fatal(err)
				}
			}
			info2 := pluginInfo(t, m2, name2)
			m2.Unload()
			if c := info2.Counters; c.Errors != 0 {
				t.Fatalf("the history plugin failed %d times on replay; last: %s\n%s", c.Errors, c.LastError, logs2)
			}
			// The replay delivered the very same events as the first run's last blocks.
			var tail []abi.Event
			for _, ev := range sent.Events() {
				if ev.BlockHeight >= from {
					tail = append(tail, ev)
				}
			}
			compareEvents(t, "replayed events", sent2.Events(), tail)
			if fin := allKeys(t, s2, uint32(blocks)); !slices.EqualFunc(fin, allKeys(t, s, uint32(blocks)), sameSample) {
				t.Fatal("the rebuilt store differs from the first one")
			}
			check(t)
		})
	}
}

func sameSample(a, b sample) bool { return a.found == b.found && bytes.Equal(a.value, b.value) }

func mapsEqual(a, b map[string]int) bool {
	for _, t := range histTables {
		if a[t] != b[t] {
			return false
		}
	}
	return true
}

// checkSamples asks the history query for every sample and reports every difference.
func checkSamples(t *testing.T, ctx context.Context, db *sql.DB, be backend, samples []sample) {
	t.Helper()
	var bad []string
	for _, sm := range samples {
		v, found, err := historydb.Query(ctx, db, be.dialect, be.schema, sm.m.program, sm.m.mapping, sm.key, sm.height)
		if err != nil {
			t.Fatal(err)
		}
		if found != sm.found || !bytes.Equal(v, sm.value) {
			bad = append(bad, fmt.Sprintf("%q/%q key %x at %d: history says found=%v %x, the store held found=%v %x",
				sm.m.program, sm.m.mapping, sm.key, sm.height, found, v, sm.found, sm.value))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d sampled values differ:\n  %s", len(bad), len(samples), strings.Join(bad[:min(len(bad), 15)], "\n  "))
	}
}

// checkRewards compares the whole staking_rewards table with the expected rewards, and
// asks historydb.StakingReward for a few (staker, height) pairs, paid or not.
func checkRewards(t *testing.T, ctx context.Context, db *sql.DB, be backend, c *histChain, blocks uint32) {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT staker, validator, block_height, reward, new_stake FROM "+be.table("staking_rewards"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[rewardKey]historydb.Reward{}
	for rows.Next() {
		var (
			staker    []byte
			r         historydb.Reward
			h         int64
			rew, stak int64
		)
		if err := rows.Scan(&staker, &r.Validator, &h, &rew, &stak); err != nil {
			t.Fatal(err)
		}
		r.Reward, r.NewStake = uint64(rew), uint64(stak)
		got[rewardKey{string(staker), uint32(h)}] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var bad []string
	for k, want := range c.rewards {
		if g, ok := got[k]; !ok || !sameReward(g, want) {
			bad = append(bad, fmt.Sprintf("staker %x at %d: got %+v (present %v), want %+v", k.staker, k.height, g, ok, want))
		}
	}
	for k := range got {
		if _, ok := c.rewards[k]; !ok {
			bad = append(bad, fmt.Sprintf("unexpected reward row: staker %x at %d", k.staker, k.height))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Errorf("%d staking reward rows differ (%d expected):\n  %s", len(bad), len(c.rewards), strings.Join(bad[:min(len(bad), 15)], "\n  "))
	}
	// Through the Go query: every staker ever bonded at a few heights, aborted ones included.
	for h := uint32(1); h <= blocks; h += max(1, blocks/40) {
		for i := range c.newbies {
			r, found, err := historydb.StakingReward(ctx, db, be.dialect, be.schema, stakerAddr(i), h)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := c.rewards[rewardKey{string(stakerAddr(i)), h}]
			if found != ok || found && !sameReward(r, want) {
				t.Errorf("historydb.StakingReward(staker %d, %d) = %+v, %v; want %+v, %v", i, h, r, found, want, ok)
			}
		}
	}
}

func sameReward(a, b historydb.Reward) bool {
	return bytes.Equal(a.Validator, b.Validator) && a.Reward == b.Reward && a.NewStake == b.NewStake
}

// checkBlocks compares the blocks table with every block notified.
func checkBlocks(t *testing.T, ctx context.Context, db *sql.DB, be backend, want map[uint32][]byte) {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT block_height, block FROM "+be.table("blocks"))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			h   int64
			blk []byte
		)
		if err := rows.Scan(&h, &blk); err != nil {
			t.Fatal(err)
		}
		n++
		if w, ok := want[uint32(h)]; !ok || !bytes.Equal(blk, w) {
			t.Errorf("block %d: %x, want %x", h, blk, w)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("%d blocks stored, want %d", n, len(want))
	}
}

func rowCounts(t *testing.T, ctx context.Context, db *sql.DB, be backend) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range histTables {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+be.table(tb)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// TestHistoryReplaceMappingDropsKeys: a replace_mapping drops the keys that are not among
// its entries. finalize.Store sends, as snarkVM does, one keyed MappingRemoval per dropped key
// before the updates: the history plugin stores a NULL row for bob (no whole-mapping
// removal), and the history query finds bob absent at 2 and present at 1, alice updated.
func TestHistoryReplaceMappingDropsKeys(t *testing.T) {
	lib := ctest.HistoryPlugin(t)
	dir := t.TempDir()
	m, _ := newManager(t)
	if _, err := m.LoadPlugin(writeConfig(t, dir, "history.json5", lib, "sqlite", `"hist.db"`)); err != nil {
		t.Fatal(err)
	}
	s := finalize.NewStore()
	s.SetSlipstreamPluginManager(m)
	p, mp := []byte("credits.aleo"), []byte("bonded")
	for _, step := range []struct {
		h  uint32
		fn func() error
	}{
		{1, func() error {
			return errors.Join(s.InitializeMapping(p, mp), s.InsertKeyValue(p, mp, []byte("alice"), []byte("1")),
				s.InsertKeyValue(p, mp, []byte("bob"), []byte("2")))
		}},
		{2, func() error {
			return s.ReplaceMapping(p, mp, []finalize.Entry{{Key: []byte("alice"), Value: []byte("3")}})
		}},
	} {
		if err := s.Finalize(step.h, finalize.RealRun, func() error {
			if err := step.fn(); err != nil {
				return err
			}
			return s.NotifyBlock([]byte{byte(step.h)}, step.h)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.GetValue(p, mp, []byte("bob")); ok {
		t.Fatal("the store kept bob")
	}
	m.Unload()
	db, err := historydb.OpenSQLite(filepath.Join(dir, "hist.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []struct {
		key   string
		h     uint32
		found bool
		value string
	}{
		{"bob", 1, true, "2"}, {"bob", 2, false, ""}, {"alice", 1, true, "1"}, {"alice", 2, true, "3"},
	} {
		v, found, err := historydb.Query(t.Context(), db, historydb.SQLite, "", p, mp, []byte(q.key), q.h)
		if err != nil {
			t.Fatal(err)
		}
		if found != q.found || string(v) != q.value {
			t.Errorf("%s at %d: found=%v %q, want found=%v %q", q.key, q.h, found, v, q.found, q.value)
		}
	}
	var nulls, removals int
	mustScan := func(q string, dst *int) {
		if err := db.QueryRowContext(t.Context(), q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	mustScan("SELECT COUNT(*) FROM mapping_history WHERE value IS NULL AND key = CAST('bob' AS BLOB) AND block_height = 2", &nulls)
	mustScan("SELECT COUNT(*) FROM mapping_removals", &removals)
	if nulls != 1 || removals != 0 {
		t.Errorf("rows: %d NULL rows for bob at 2, %d mapping removals; want 1 and 0 (a keyed removal per dropped key)", nulls, removals)
	}
}
