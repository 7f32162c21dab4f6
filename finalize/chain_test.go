package finalize

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// scriptedChain drives the chain of issue 3 item 7 through s: inserts, updates, removals,
// replacements, mapping and program removals, an aborted block, a rewound checkpoint, a
// dry run, staking rewards and blocks. The integration test with the C recorder plugin
// (item 7, once the host loads it) must run this same function and compare what the
// plugin recorded with testdata/chain.golden.
func scriptedChain(t testing.TB, s *Store) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cr, acct, bonded := b("credits.aleo"), b("account"), b("bonded")
	tok, bal := b("token.aleo"), b("balances")
	stakers := func(a, c uint64) []Staker {
		return []Staker{{b("alice"), b("val1"), a}, {b("carol"), b("val2"), c}}
	}
	finalizeBlock := func(h uint32, mode Mode, fn func() error) error {
		err := s.Finalize(h, mode, fn)
		if err == nil && mode == RealRun { // after a nil error only; NotifyBlock's own error checked
			err = s.NotifyBlock([]byte("block-"+string(rune('0'+h))), h)
		}
		return err
	}
	// Block 1: deployments and first balances.
	must(finalizeBlock(1, RealRun, func() error {
		must(s.InitializeMapping(cr, acct))
		must(s.InitializeMapping(cr, bonded))
		must(s.InitializeMapping(tok, bal))
		must(s.InsertKeyValue(cr, acct, b("alice"), b("100")))
		must(s.InsertKeyValue(cr, acct, b("bob"), b("50")))
		must(s.UpdateKeyValue(tok, bal, b("alice"), b("7")))
		return nil
	}))
	// Block 2: a transfer, a failed transaction rewound, a removal, staking rewards.
	must(finalizeBlock(2, RealRun, func() error {
		must(s.UpdateKeyValue(cr, acct, b("alice"), b("90")))
		must(s.UpdateKeyValue(cr, acct, b("bob"), b("60")))
		must(s.AtomicCheckpoint())
		must(s.UpdateKeyValue(cr, acct, b("bob"), b("0")))
		must(s.RemoveKeyValue(cr, acct, b("alice")))
		must(s.AtomicRewind())
		must(s.RemoveKeyValue(cr, acct, b("nobody"))) // absent: no event
		must(s.RemoveKeyValue(tok, bal, b("alice")))
		s.NotifyStakingRewards(stakers(1000, 500), stakers(1010, 500), 2)
		return nil
	}))
	// Block 3: aborted.
	if err := finalizeBlock(3, RealRun, func() error {
		must(s.UpdateKeyValue(cr, acct, b("alice"), b("1")))
		s.NotifyStakingRewards(stakers(1010, 500), stakers(1020, 510), 3)
		return errors.New("block 3 rejected")
	}); err == nil {
		t.Fatal("aborted block committed")
	}
	// A dry run of block 3'.
	must(finalizeBlock(3, DryRun, func() error { return s.RemoveProgram(cr) }))
	// Block 3: replacements (of an empty mapping; of one that drops bob and keeps alice),
	// mapping and program removals, rewards with a leaving staker and one that moved to
	// another validator.
	must(finalizeBlock(3, RealRun, func() error {
		must(s.ReplaceMapping(cr, bonded, []Entry{{b("alice"), b("1010")}, {b("carol"), b("500")}}))
		must(s.ReplaceMapping(cr, acct, []Entry{{b("dave"), b("5")}, {b("alice"), b("95")}}))
		must(s.RemoveMapping(tok, bal))
		must(s.InitializeMapping(tok, b("supply")))
		must(s.UpdateKeyValue(tok, b("supply"), b("total"), b("1")))
		must(s.RemoveProgram(tok))
		s.NotifyStakingRewards(stakers(1010, 500), []Staker{{b("alice"), b("val3"), 1005}}, 3)
		return nil
	}))
}

// TestScriptedChainGolden runs the scripted chain into the fake recorder and compares the
// events with testdata/chain.golden (go test -run Golden -update rewrites it).
func TestScriptedChainGolden(t *testing.T) {
	s, r := newRecorded(t)
	mustNil(t, s.RemoveProgram(b("p"))) // start from an empty state
	r.Reset()
	scriptedChain(t, s)
	got := strings.Join(evStrings(r.Events()), "\n") + "\n"
	path := filepath.Join("testdata", "chain.golden")
	if *update {
		mustNil(t, os.MkdirAll("testdata", 0o755))
		mustNil(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	mustNil(t, err)
	if got != string(want) {
		t.Fatalf("events differ from %s:\n%s", path, got)
	}
}
