package cli_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/internal/chain"
	"github.com/slipstream-go/slipstream/internal/cli"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // in the output
	}{
		{[]string{"--help"}, "Usage: slipstream <command>"},
		{[]string{"help"}, "Usage: slipstream <command>"},
		{[]string{"replay", "--help"}, "Usage: slipstream replay"},
		{[]string{"gen", "--help"}, "Usage: slipstream gen"},
		{[]string{"check", "--help"}, "Usage: slipstream check"},
		{[]string{"check", "-h"}, "Usage: slipstream check"},
		{[]string{"replay", "-help"}, "Usage: slipstream replay"},
		{[]string{"history", "--help"}, "Usage: slipstream history"},
		{[]string{"help", "replay"}, "Usage: slipstream replay"},
		{[]string{"help", "check"}, "Usage: slipstream check"},
		{[]string{"help", "history"}, "Usage: slipstream history"},
		{[]string{"help", "gen"}, "Usage: slipstream gen"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			t.Parallel()
			r := run(t, t.TempDir(), tt.args...)
			out := r.stdout
			if r.code != 0 || !strings.Contains(out, tt.want) || r.stderr != "" {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 and %q on stdout, nothing on stderr", r.code, out, r.stderr, tt.want)
			}
			if tt.args[len(tt.args)-1] == "check" && (!strings.Contains(out, "on_load") || !strings.Contains(out, "on_unload")) {
				t.Errorf("check's usage does not say that it runs on_load and on_unload:\n%s", out)
			}
			if tt.args[0] != "gen" && !strings.Contains(out, "xample") {
				t.Errorf("the usage shows no example:\n%s", out)
			}
			if strings.Contains(out, "-child") {
				t.Errorf("the hidden flag of check is shown:\n%s", out)
			}
		})
	}
}

// TestRunInProcess runs the same code in-process (App.Run), for what needs no process.
func TestRunInProcess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, cli.ExitUsage, "Usage: slipstream <command>"},
		{[]string{"frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{[]string{"replay", "--help"}, cli.ExitOK, "--plugin"},
		{[]string{"replay"}, cli.ExitUsage, "no --plugin given"},
		{[]string{"replay", "--plugin", "x.json5"}, cli.ExitUsage, "exactly one of --input FILE and --synthetic"},
		{[]string{"replay", "--plugin", "x", "--input", "f", "--synthetic"}, cli.ExitUsage, "exactly one of"},
		{[]string{"replay", "--plugin", "x", "--input", "f", "--blocks", "3"}, cli.ExitUsage, "need --synthetic"},
		{[]string{"replay", "--plugin", "x", "--synthetic", "--abort-rate", "2"}, cli.ExitUsage, "abort rate"},
		{[]string{"replay", "--plugin", "x", "--synthetic", "--log-level", "loud"}, cli.ExitUsage, "invalid --log-level"},
		{[]string{"replay", "--plugin", "x", "--synthetic", "--progress", "maybe"}, cli.ExitUsage, "--progress"},
		{[]string{"replay", "--plugin", "x", "--synthetic", "extra"}, cli.ExitUsage, `unexpected argument "extra"`},
		{[]string{"replay", "--bogus"}, cli.ExitUsage, "flag provided but not defined"},
		{[]string{"replay", "--plugin", "x", "--input", "/nonexistent/chain.ndjson"}, cli.ExitUsage, "cannot open the input"},
		{[]string{"check"}, cli.ExitUsage, "no config file given"},
		{[]string{"history", "--program", "00"}, cli.ExitUsage, "exactly one of --sqlite and --postgres"},
		{[]string{"history", "--sqlite", "x.db", "--mapping", "00", "--key", "00", "--height", "1"}, cli.ExitUsage, "--program is required"},
		{[]string{"history", "--sqlite", "x.db", "--program", "zz", "--mapping", "00", "--key", "00", "--height", "1"}, cli.ExitUsage, "--program: invalid hex"},
		{[]string{"history", "--sqlite", "x.db", "--program", "00", "--mapping", "00", "--key", "00", "--height", "-1"}, cli.ExitUsage, "--height"},
		{[]string{"history", "--sqlite", "/nonexistent.db", "--program", "00", "--mapping", "00", "--key", "00", "--height", "1"}, cli.ExitFailure, "no such file"},
		{[]string{"gen", "--blocks", "2", "-q"}, cli.ExitOK, `"height":1`},
		{[]string{"gen", "--blocks", "-1"}, cli.ExitUsage, "blocks"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			a := &cli.App{Stdout: &out, Stderr: &out}
			if code := a.Run(context.Background(), tt.args); code != tt.code || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), tt.code, tt.want)
			}
		})
	}
}

func TestGenDeterministic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	read := func(name string, args ...string) []byte {
		b, err := os.ReadFile(gen(t, dir, name, args...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := read("a.ndjson", "--blocks", "100", "--seed", "9")
	b := read("b.ndjson", "--blocks", "100", "--seed", "9")
	c := read("c.ndjson", "--blocks", "100", "--seed", "10")
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different chains")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same chain")
	}
	// gen to stdout writes the same bytes.
	r := run(t, dir, "gen", "-q", "--blocks", "100", "--seed", "9")
	if r.code != 0 || r.stdout != string(a) {
		t.Fatalf("gen to stdout: exit %d, %d bytes, want the %d bytes of -o", r.code, len(r.stdout), len(a))
	}
}

// readChain reads a chain file.
func readChain(t *testing.T, path string) []*chain.Block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := chain.NewReader(f, path)
	var out []*chain.Block
	for {
		b, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// checkRecorded checks what the recorder received against the chain: each committed block's
// Block event with its bytes, one staking reward per current staker, nothing of an aborted
// block, and within a block mapping events, then rewards, then the Block event.
func checkRecorded(t *testing.T, blocks []*chain.Block, evs []string) {
	t.Helper()
	type perBlock struct {
		block   string
		rewards int
		kinds   []int
	}
	got := map[uint32]*perBlock{}
	for _, l := range evs {
		f := strings.Fields(l)
		kind, _ := strconv.Atoi(f[1])
		h, _ := strconv.ParseUint(f[2], 10, 32)
		pb := got[uint32(h)]
		if pb == nil {
			pb = &perBlock{}
			got[uint32(h)] = pb
		}
		pb.kinds = append(pb.kinds, kind)
		switch abi.EventKind(kind) {
		case abi.Block:
			pb.block = f[3]
		case abi.StakingReward:
			pb.rewards++
		}
	}
	committed := 0
	for _, b := range blocks {
		pb := got[b.Height]
		if b.Aborted {
			if pb != nil {
				t.Errorf("aborted block %d: the plugin got %d events", b.Height, len(pb.kinds))
			}
			continue
		}
		committed++
		if pb == nil {
			t.Errorf("block %d: no event", b.Height)
			continue
		}
		want := hex.EncodeToString(b.Bytes)
		if want == "" {
			want = "-"
		}
		if pb.block != want {
			t.Errorf("block %d: Block event %.16s…, want %.16s…", b.Height, pb.block, want)
		}
		if pb.rewards != len(b.Current) {
			t.Errorf("block %d: %d staking rewards, want %d", b.Height, pb.rewards, len(b.Current))
		}
		phase := func(k int) int {
			switch abi.EventKind(k) {
			case abi.MappingUpdate, abi.MappingRemoval:
				return 0
			case abi.StakingReward:
				return 1
			}
			return 2
		}
		for i := 1; i < len(pb.kinds); i++ {
			if phase(pb.kinds[i]) < phase(pb.kinds[i-1]) {
				t.Errorf("block %d: event kinds out of order: %v", b.Height, pb.kinds)
				break
			}
		}
		if pb.kinds[len(pb.kinds)-1] != int(abi.Block) {
			t.Errorf("block %d: the Block event is not last", b.Height)
		}
	}
	if len(got) != committed {
		t.Errorf("events for %d heights, want %d committed blocks", len(got), committed)
	}
}

func TestReplayRecorder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := gen(t, dir, "chain.ndjson", "--blocks", "120", "--seed", "5", "--stakers", "30", "--abort-rate", "0.1")
	blocks := readChain(t, path)
	aborted := 0
	for _, b := range blocks {
		if b.Aborted {
			aborted++
		}
	}
	if aborted == 0 {
		t.Fatal("the chain has no aborted block: pick another seed")
	}
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	r := run(t, dir, "replay", "--plugin", cfg, "--input", path, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum cli.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	evs := events(t, filepath.Join(dir, "rec.out"))
	checkRecorded(t, blocks, evs)
	if sum.Blocks != len(blocks) || sum.Aborted != aborted || sum.Committed != len(blocks)-aborted {
		t.Errorf("summary blocks %d/%d committed/%d aborted, want %d/%d/%d", sum.Blocks, sum.Committed, sum.Aborted,
			len(blocks), len(blocks)-aborted, aborted)
	}
	if len(sum.Plugins) != 1 || sum.Plugins[0].Name != "recorder" || sum.Plugins[0].Events != uint64(len(evs)) ||
		sum.Events != uint64(len(evs)) || sum.Plugins[0].P99Nanos <= 0 {
		t.Errorf("summary %+v, want one plugin recorder with %d events and a latency", sum, len(evs))
	}
	lines := ctest.ReadLines(t, filepath.Join(dir, "rec.out"))
	if !contains(lines, "unload") || !contains(lines, "destroy") || !contains(lines, "fini") {
		t.Errorf("the recorder was not unloaded cleanly: %v", lines[len(lines)-3:])
	}

	// The text summary: a table with the plugin, and the totals.
	r = run(t, dir, "replay", "--plugin", cfg, "--input", path)
	for _, want := range []string{"PLUGIN", "EVENTS", "P50", "P99", "EVENTS/S", "recorder", fmt.Sprintf("blocks %d (%d committed, %d aborted)", len(blocks), len(blocks)-aborted, aborted)} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 || r.stderr != "" {
		t.Errorf("exit %d, stderr %q (no progress line: stderr is not a terminal)", r.code, r.stderr)
	}
}

func TestReplaySameSeedSameOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	args := []string{"--blocks", "80", "--seed", "77", "--stakers", "20"}
	var outs [][]string
	for i := range 2 {
		cfg := recorderConfig(t, dir, fmt.Sprintf("rec%d.json5", i), fmt.Sprintf("rec%d.out", i), "")
		r := run(t, dir, append([]string{"replay", "--plugin", cfg, "--synthetic"}, args...)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		outs = append(outs, events(t, filepath.Join(dir, fmt.Sprintf("rec%d.out", i))))
	}
	if len(outs[0]) == 0 || strings.Join(outs[0], "\n") != strings.Join(outs[1], "\n") {
		t.Fatalf("two replays with the same seed: %d and %d events, different", len(outs[0]), len(outs[1]))
	}
	// --synthetic is the same chain as gen with the same flags.
	path := gen(t, dir, "chain.ndjson", args...)
	cfg := recorderConfig(t, dir, "rec2.json5", "rec2.out", "")
	if r := run(t, dir, "replay", "--plugin", cfg, "--input", path); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := events(t, filepath.Join(dir, "rec2.out")); strings.Join(got, "\n") != strings.Join(outs[0], "\n") {
		t.Fatalf("replay of the generated file: %d events, differ from --synthetic's %d", len(got), len(outs[0]))
	}
	checkRecorded(t, readChain(t, path), outs[0])
}

func TestReplayMalformedLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := gen(t, dir, "good.ndjson", "--blocks", "30", "--seed", "3", "--abort-rate", "0")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	blocks := readChain(t, good)
	const bad = 20 // 1-based line number of the broken line
	tests := []struct {
		name   string
		breakF func(line string) string
		want   string
	}{
		{"bad hex", func(l string) string { return strings.Replace(l, `"block":"`, `"block":"zz`, 1) }, "invalid hex"},
		{"truncated", func(l string) string { return l[:len(l)/2] + "\n" }, "malformed JSON"},
		{"unknown field", func(l string) string { return strings.Replace(l, `{"height"`, `{"hieght":1,"height"`, 1) }, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sub := t.TempDir()
			broken := append([]string{}, lines...)
			broken[bad-1] = tt.breakF(broken[bad-1])
			path := writeFile(t, sub, "chain.ndjson", strings.Join(broken, ""))
			cfg := recorderConfig(t, sub, "rec.json5", "rec.out", "")
			r := run(t, sub, "replay", "--plugin", cfg, "--input", path)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			prefix := fmt.Sprintf("%s:%d: ", path, bad)
			if !strings.HasPrefix(r.stderr, prefix) || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("stderr %q, want %q… %q", r.stderr, prefix, tt.want)
			}
			evs := events(t, filepath.Join(sub, "rec.out"))
			checkRecorded(t, blocks[:bad-1], evs)
			badHeight := blocks[bad-1].Height
			for _, e := range evs {
				if h, _ := strconv.Atoi(strings.Fields(e)[2]); uint32(h) >= badHeight {
					t.Fatalf("the plugin got an event of the bad block or after: %s", e)
				}
			}
			all := ctest.ReadLines(t, filepath.Join(sub, "rec.out"))
			if !contains(all, "unload") || !contains(all, "destroy") {
				t.Errorf("the recorder was not unloaded cleanly")
			}
		})
	}
}

// TestReplayInvalidOp: a well-formed line whose op the store refuses (update of a mapping
// that does not exist) stops the replay like a malformed line.
func TestReplayInvalidOp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "chain.ndjson",
		`{"height":1,"ops":[{"op":"initialize_mapping","program":"70","mapping":"6d"}],"stakers":{"current":[],"next":[]},"block":"01"}`+"\n"+
			`{"height":2,"ops":[{"op":"update","program":"70","mapping":"6d","key":"01","value":"02"},{"op":"update","program":"70","mapping":"6e","key":"01","value":"02"}],"stakers":{"current":[],"next":[]},"block":"02"}`+"\n")
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	r := run(t, dir, "replay", "--plugin", cfg, "--input", path)
	if r.code != 1 || !strings.Contains(r.stderr, path+":2: block 2: op 2 (update)") || !strings.Contains(r.stderr, "not initialized") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if evs := events(t, filepath.Join(dir, "rec.out")); len(evs) != 1 || evs[0] != "ev 3 1 01" {
		t.Fatalf("events %q, want only block 1's Block event", evs)
	}
}

func TestReplayConfigDoesNotLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lib := ctest.Plugin(t, "recorder", "testdata/plugins/recorder.c")
	insecure := writeFile(t, dir, "insecure.json5", fmt.Sprintf("{libpath: %q, out: %q}", lib, filepath.Join(dir, "x.out")))
	if err := os.Chmod(insecure, 0o666); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config, want string
	}{
		{"missing file", filepath.Join(dir, "nope.json5"), "cannot read plugin config"},
		{"bad JSON5", writeFile(t, dir, "bad.json5", "{libpath: "), "invalid JSON5"},
		{"no libpath", writeFile(t, dir, "nolib.json5", "{out: 'x'}"), "libpath not set"},
		{"missing library", writeFile(t, dir, "nolib2.json5", "{libpath: 'libnothere.so'}"), "cannot be loaded"},
		{"on_load fails", recorderConfig(t, dir, "fail.json5", "fail.out", `fail_load: "no database here"`), "no database here"},
		{"insecure config", insecure, "writable by other users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, dir, "replay", "--plugin", tt.config, "--synthetic", "--blocks", "3")
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, filepath.Base(tt.config)) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	// The first plugin loaded is unloaded when the second does not load.
	good := recorderConfig(t, dir, "good.json5", "good.out", "")
	r := run(t, dir, "replay", "--plugin", good, "--plugin", filepath.Join(dir, "nope.json5"), "--synthetic", "--blocks", "3")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2", r.code)
	}
	if lines := ctest.ReadLines(t, filepath.Join(dir, "good.out")); !contains(lines, "destroy") || len(events(t, filepath.Join(dir, "good.out"))) != 0 {
		t.Fatalf("the first plugin: %q", lines)
	}
}

func TestReplayHalt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", `fail_every: 1, error_policy: 'halt'`)
	r := run(t, dir, "replay", "--plugin", cfg, "--synthetic", "--blocks", "20", "--log-level", "disabled")
	if r.code != 1 || !strings.Contains(r.stderr, "fails on purpose") || !strings.Contains(r.stderr, "block 0") {
		t.Fatalf("exit %d, stderr %q; want 1 and the plugin's error", r.code, r.stderr)
	}
	lines := ctest.ReadLines(t, filepath.Join(dir, "rec.out"))
	if !contains(lines, "unload") || !contains(lines, "destroy") {
		t.Fatalf("the plugin was not unloaded: %q", lines[len(lines)-3:])
	}
	// It stopped at the first block.
	for _, e := range events(t, filepath.Join(dir, "rec.out")) {
		if strings.Fields(e)[2] != "0" {
			t.Fatalf("an event after the failing block: %s", e)
		}
	}
	if !strings.Contains(r.stdout, "(failed: the error is on stderr)") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

func TestReplayInterrupt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A slow plugin (1 ms per Block event… and per event: 50 µs) and a long chain.
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "sleep_us: 50")
	out := filepath.Join(dir, "rec.out")
	cmd := exec.Command(bin, "replay", "--plugin", cfg, "--synthetic", "--blocks", "100000", "--json")
	cmd.Dir = dir
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	interruptAfterBlock(t, cmd, out)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != cli.ExitInterrupted {
		t.Fatalf("wait: %v, want exit 130; stderr %q", err, se.String())
	}
	var sum cli.Summary
	if err := json.Unmarshal(so.Bytes(), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, so.String())
	}
	if !sum.Interrupted || sum.Blocks == 0 || sum.Blocks >= 100000 {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(se.String(), "interrupted") {
		t.Errorf("stderr %q", se.String())
	}
	lines := ctest.ReadLines(t, out)
	if !contains(lines, "unload") || !contains(lines, "destroy") {
		t.Fatalf("the plugin was not unloaded: %q", lines[len(lines)-3:])
	}
	// It stopped after a whole block: the last block's Block event is the last event.
	evs := events(t, out)
	last := strings.Fields(evs[len(evs)-1])
	if last[1] != strconv.Itoa(int(abi.Block)) || last[2] != strconv.Itoa(int(sum.LastHeight)) {
		t.Fatalf("last event %q, want the Block event of block %d", evs[len(evs)-1], sum.LastHeight)
	}
}

// interruptAfterBlock waits until the C recorder writing to out recorded a Block event (a
// block was delivered), then sends the replay cmd SIGINT.
func interruptAfterBlock(t *testing.T, cmd *exec.Cmd, out string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte("\nev 3 ")) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no block delivered within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
}

// A replay reading a pipe that stops sending (stdin of a node that stalls) stops at SIGINT
// at once, after the blocks it got, instead of waiting for the next line.
func TestReplayInterruptWhileReading(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := run(t, dir, "gen", "-q", "--blocks", "2", "-o", "two.ndjson"); r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	chainLines := ctest.ReadLines(t, filepath.Join(dir, "two.ndjson"))
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	out := filepath.Join(dir, "rec.out")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command(bin, "replay", "--plugin", cfg, "--input", "-", "--json", "--progress", "never")
	cmd.Dir, cmd.Stdin = dir, pr
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	if _, err := pw.WriteString(chainLines[0] + "\n"); err != nil { // one block, then nothing
		t.Fatal(err)
	}
	interruptAfterBlock(t, cmd, out)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatal("replay still waits for its input 20 s after SIGINT")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != cli.ExitInterrupted {
		t.Fatalf("wait: %v, want exit 130; stderr %q", err, se.String())
	}
	var sum cli.Summary
	if err := json.Unmarshal(so.Bytes(), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, so.String())
	}
	if !sum.Interrupted || sum.Blocks != 1 {
		t.Fatalf("summary %+v, want interrupted after 1 block", sum)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := recorderConfig(t, dir, "rec.json5", "rec.out", "events: 9")
	crashLib := ctest.Plugin(t, "crash", "testdata/plugins/crash.c")
	crash := writeFile(t, dir, "crash.json5", fmt.Sprintf("{libpath: %q}", crashLib))
	noLib := writeFile(t, dir, "nolib.json5", "{libpath: 'libnothere.so'}")
	hang := lifecycleConfig(t, dir, "hang.json5", `load_sleep_ms: 60000, call_timeout: "1s"`)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    []string
		wantStderr []string
	}{
		{"good", []string{good}, 0,
			[]string{"plugin         recorder", "library        " + ctest.Plugin(t, "recorder", "testdata/plugins/recorder.c"),
				"config         " + good, "abi            " + abi.VersionString(abi.Version) + " (host " + abi.VersionString(abi.Version) + ")", "subscriptions  MappingUpdate, Block", "status         ok"}, nil},
		{"good in process", []string{"--in-process", good}, 0, []string{"plugin         recorder", "subscriptions  MappingUpdate, Block"}, nil},
		{"crash", []string{crash}, 2, nil,
			[]string{"plugin crashed while loading: signal SIGSEGV (the plugin runs in the node's process: this would have crashed the node)"}},
		{"does not load", []string{noLib}, 2, nil, []string{"nolib.json5", "plugin library cannot be loaded"}},
		{"good and crash", []string{good, crash}, 2, []string{"plugin         recorder"}, []string{"plugin crashed while loading"}},
		{"hang", []string{hang}, 2, nil, []string{"hang.json5: plugin hung while loading: no answer in 1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, dir, append([]string{"check"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr carries the Go runtime's goroutine dump:\n%s", r.stderr)
			}
		})
	}
}

// TestCheckInProcessApp runs check through App.Run with Executable set to the built binary.
func TestCheckInProcessApp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	var out, errb bytes.Buffer
	a := &cli.App{Stdout: &out, Stderr: &errb, Executable: bin}
	if code := a.Run(context.Background(), []string{"check", good}); code != 0 || !strings.Contains(out.String(), "recorder") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lib := ctest.HistoryPlugin(t)
	path := gen(t, dir, "chain.ndjson", "--blocks", "200", "--seed", "11", "--stakers", "20", "--key-space", "300")
	cfg := writeFile(t, dir, "history.json5", fmt.Sprintf("{libpath: %q, sqlite: 'history.db'}", lib))
	if r := run(t, dir, "replay", "--plugin", cfg, "--input", path); r.code != 0 {
		t.Fatalf("replay: exit %d: %s", r.code, r.stderr)
	}
	db := filepath.Join(dir, "history.db")

	// The truth: the store's state at the end of sampled blocks.
	type query struct {
		program, mapping, key []byte
		height                uint32
		want                  string
	}
	var queries []query
	store := finalize.NewStore()
	blocks := readChain(t, path)
	for i, b := range blocks {
		err := store.Finalize(b.Height, finalize.RealRun, func() error {
			for _, op := range b.Ops {
				var err error
				switch op.Kind {
				case chain.OpInitializeMapping:
					err = store.InitializeMapping(op.Program, op.Mapping)
				case chain.OpInsert:
					err = store.InsertKeyValue(op.Program, op.Mapping, op.Key, op.Value)
				case chain.OpUpdate:
					err = store.UpdateKeyValue(op.Program, op.Mapping, op.Key, op.Value)
				case chain.OpRemove:
					err = store.RemoveKeyValue(op.Program, op.Mapping, op.Key)
				case chain.OpReplaceMapping:
					var es []finalize.Entry
					for _, e := range op.Entries {
						es = append(es, finalize.Entry{Key: e.Key, Value: e.Value})
					}
					err = store.ReplaceMapping(op.Program, op.Mapping, es)
				case chain.OpRemoveMapping:
					err = store.RemoveMapping(op.Program, op.Mapping)
				case chain.OpRemoveProgram:
					err = store.RemoveProgram(op.Program)
				}
				if err != nil {
					return err
				}
			}
			if b.Aborted {
				return io.EOF
			}
			return nil
		})
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if i%25 != 7 || b.Aborted {
			continue
		}
		for j, op := range b.Ops {
			if (op.Kind != chain.OpUpdate && op.Kind != chain.OpRemove) || j%3 != 0 {
				continue
			}
			v, ok, err := store.GetValue(op.Program, op.Mapping, op.Key)
			if err != nil {
				t.Fatal(err)
			}
			want := "absent"
			if ok {
				want = hex.EncodeToString(v)
			}
			queries = append(queries, query{op.Program, op.Mapping, op.Key, b.Height, want})
		}
	}
	queries = append(queries, query{[]byte("credits.aleo"), []byte("account"), bytes.Repeat([]byte{0xee}, 32), 150, "absent"})
	if len(queries) < 10 {
		t.Fatalf("only %d queries", len(queries))
	}
	for i, q := range queries {
		r := run(t, dir, "history", "--sqlite", db, "--program", hex.EncodeToString(q.program), "--mapping",
			hex.EncodeToString(q.mapping), "--key", "0x"+hex.EncodeToString(q.key), "--height", strconv.Itoa(int(q.height)))
		if r.code != 0 || strings.TrimSpace(r.stdout) != q.want {
			t.Fatalf("query %d (%s/%s at %d): exit %d, %q (stderr %q), want %q", i, q.program, q.mapping, q.height,
				r.code, r.stdout, r.stderr, q.want)
		}
	}

	// The demo's way: sample-key picks an updated credits.aleo/account key; the query agrees
	// with the value it expects.
	r := run(t, dir, "sample-key", "--input", path)
	if r.code != 0 || !strings.Contains(r.stdout, "--program 637265646974732e616c656f --mapping 6163636f756e74 --key ") {
		t.Fatalf("sample-key: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	want := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.stderr), "expected (from the chain file):"))
	q := run(t, dir, append([]string{"history", "--sqlite", db}, strings.Fields(r.stdout)...)...)
	if q.code != 0 || strings.TrimSpace(q.stdout) != want {
		t.Fatalf("history %s: exit %d, %q, want %q", r.stdout, q.code, q.stdout, want)
	}

	// Not a history database: exit 1.
	notDB := writeFile(t, dir, "not.db", "this is not SQLite")
	r = run(t, dir, "history", "--sqlite", notDB, "--program", "00", "--mapping", "00", "--key", "00", "--height", "1")
	if r.code != 1 || r.stderr == "" {
		t.Fatalf("exit %d, stderr %q, want 1 and an error", r.code, r.stderr)
	}
}

// TestReplayCancelledInProcess: App.Run with a cancelled context stops like SIGINT does.
func TestReplayCancelledInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	a := &cli.App{Stdout: &out, Stderr: &errb}
	code := a.Run(ctx, []string{"replay", "--plugin", cfg, "--synthetic", "--blocks", "10", "--json"})
	var sum cli.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || code != cli.ExitInterrupted || !sum.Interrupted || sum.Blocks != 0 {
		t.Fatalf("exit %d, summary %+v (%v), stderr %q", code, sum, err, errb.String())
	}
	if lines := ctest.ReadLines(t, filepath.Join(dir, "rec.out")); !contains(lines, "destroy") {
		t.Fatalf("not unloaded: %q", lines)
	}
}

// TestReplaySummaryUndelivered: the summary's dropped column is the total of the events a
// plugin did not get, and --json has them by cause (issue 18.11).
func TestReplaySummaryUndelivered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", `events: 8, fail_every: 1, error_policy: 'disable', max_consecutive_errors: 3`)
	r := run(t, dir, "replay", "--plugin", cfg, "--synthetic", "--blocks", "20", "--json", "--log-level", "disabled")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum cli.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	p := sum.Plugins[0]
	if p.Events != 3 || p.Dropped != uint64(sum.Committed)-3 || p.Undelivered.Disabled != p.Dropped || p.Undelivered.QueueFull != 0 {
		t.Errorf("plugin summary %+v for %d committed blocks: want 3 events, the rest dropped as disabled", p, sum.Committed)
	}
	if !strings.Contains(r.stdout, `"undelivered": {`) || !strings.Contains(r.stdout, fmt.Sprintf(`"disabled": %d`, p.Dropped)) {
		t.Errorf("--json lacks the causes: %s", r.stdout)
	}
}
