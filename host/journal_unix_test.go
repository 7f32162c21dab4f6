//go:build unix

package host_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/host"
)

// TestJournalNodeCrash: a node with a journal (this test binary, re-executed) is killed with
// SIGKILL while it broadcasts; restarted on the same journal it re-finalizes the last few
// heights, and a plugin whose position is behind then holds every height exactly once.
func TestJournalNodeCrash(t *testing.T) {
	if dir := os.Getenv("SLIPSTREAM_TEST_JOURNAL_NODE"); dir != "" {
		m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(dir))
		for h := uint32(1); ; h++ {
			if err := m.BroadcastBatch(blockEvents(h)); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println(h)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalNodeCrash$")
	cmd.Env = append(os.Environ(), "SLIPSTREAM_TEST_JOURNAL_NODE="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var seen uint64
	for sc.Scan() {
		if seen, err = strconv.ParseUint(sc.Text(), 10, 32); err != nil {
			t.Fatalf("node: %s", sc.Text())
		}
		if seen >= 3000 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The restarted node: it re-finalizes from a few heights before the last journaled.
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(dir))
	defer m.Unload()
	ji, _ := m.JournalInfo()
	if uint64(ji.Last) < seen || ji.First != 1 {
		t.Fatalf("journal after the kill holds %d to %d, want 1 to at least %d", ji.First, ji.Last, seen)
	}
	last := ji.Last + 200 // the node may have journaled more than it reported before the kill
	for h := ji.Last - 5; h <= last; h++ {
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	p := &heightsPlugin{resume: 1000}
	if _, err := m.Register(p, ""); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	m.Shutdown()
	wantEachHeight(t, p.heights, 1000, last)
}
