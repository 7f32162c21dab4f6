package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/cli"
	"github.com/slipstream-go/slipstream/internal/ctest/natstest"
)

// recorderLine turns one line of tail's output (the event JSON) into the C recorder's
// "ev …" line of the same event, so that the two can be compared.
func recorderLine(t *testing.T, line string) string {
	t.Helper()
	var ev struct {
		Kind        string  `json:"kind"`
		BlockHeight uint32  `json:"block_height"`
		ProgramID   string  `json:"program_id"`
		MappingName string  `json:"mapping_name"`
		Key         *string `json:"key"`
		Value       string  `json:"value"`
		Staker      string  `json:"staker"`
		Validator   string  `json:"validator"`
		Reward      uint64  `json:"reward"`
		NewStake    uint64  `json:"new_stake"`
		Block       string  `json:"block"`
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("tail printed %q: %v", line, err)
	}
	key := "nokey"
	if ev.Key != nil {
		key = *ev.Key
	}
	switch ev.Kind {
	case "MappingUpdate":
		return fmt.Sprintf("ev 0 %d %s %s %s %s", ev.BlockHeight, ev.ProgramID, ev.MappingName, key, ev.Value)
	case "MappingRemoval":
		return fmt.Sprintf("ev 1 %d %s %s %s", ev.BlockHeight, ev.ProgramID, ev.MappingName, key)
	case "StakingReward":
		return fmt.Sprintf("ev 2 %d %s %s %d %d", ev.BlockHeight, ev.Staker, ev.Validator, ev.Reward, ev.NewStake)
	case "Block":
		return fmt.Sprintf("ev 3 %d %s", ev.BlockHeight, ev.Block)
	}
	t.Fatalf("tail printed an unknown kind: %s", line)
	return ""
}

// tailLines runs `slipstream tail` in-process and returns its lines as recorder lines.
func tailLines(t *testing.T, args ...string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &cli.App{Stdout: &stdout, Stderr: &stderr}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := a.Run(ctx, append([]string{"tail", "--no-follow"}, args...)); code != cli.ExitOK {
		t.Fatalf("tail %v: exit %d: %s", args, code, stderr.String())
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if l != "" {
			out = append(out, recorderLine(t, l))
		}
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d lines, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: line %d:\n got %.200s\nwant %.200s", what, i, got[i], want[i])
		}
	}
	if len(want) == 0 {
		t.Errorf("%s: nothing to compare", what)
	}
}

// Issue 17.1, 17.5, 17.6: `slipstream replay` loads the nats plugin from a config with
// builtin: "nats" (and `check` describes it); `slipstream tail` prints what it published,
// every event the C recorder got on the same replay, in order; --program, --mapping,
// --kinds and --from-height select what their subject filter and height say; following,
// it prints what arrives and ends on an interrupt (exit 130).
func TestTailBuiltinNats(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	natsCfg := writeFile(t, dir, "nats.json5", fmt.Sprintf(`{builtin: "nats", url: %q, error_policy: "halt"}`, srv.URL()))
	rec := recorderConfig(t, dir, "rec.json5", "rec.out", "")

	var out bytes.Buffer
	a := &cli.App{Stdout: &out, Stderr: &out}
	if code := a.Run(context.Background(), []string{"replay", "--plugin", natsCfg, "--plugin", rec, "--synthetic", "--blocks", "40", "--seed", "5", "--block-size", "16"}); code != cli.ExitOK {
		t.Fatalf("replay: exit %d:\n%s", code, out.String())
	}
	want := events(t, dir+"/rec.out")
	url := []string{"--nats", srv.URL()}
	sameLines(t, "tail", tailLines(t, url...), want)

	var prog, mapping string
	for _, l := range want {
		if f := strings.Fields(l); f[1] == "0" {
			prog, mapping = f[3], f[4]
			break
		}
	}
	filter := func(keep func(f []string) bool) []string {
		var out []string
		for _, l := range want {
			if keep(strings.Fields(l)) {
				out = append(out, l)
			}
		}
		return out
	}
	isMapping := func(f []string) bool { return f[1] == "0" || f[1] == "1" }
	sameLines(t, "--program", tailLines(t, append(url, "--program", prog)...),
		filter(func(f []string) bool { return isMapping(f) && f[3] == prog }))
	sameLines(t, "--program --mapping", tailLines(t, append(url, "--program", "0x"+strings.ToUpper(prog), "--mapping", mapping)...),
		filter(func(f []string) bool { return isMapping(f) && f[3] == prog && f[4] == mapping }))
	sameLines(t, "--kinds --from-height", tailLines(t, append(url, "--kinds", "block,StakingReward", "--from-height", "30")...),
		filter(func(f []string) bool { h, _ := strconv.Atoi(f[2]); return (f[1] == "2" || f[1] == "3") && h >= 30 }))

	// Following: everything so far, then an interrupt.
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu     sync.Mutex
		follow bytes.Buffer
		done   = make(chan int)
	)
	go func() {
		done <- (&cli.App{Stdout: lockedWriter{&mu, &follow}, Stderr: lockedWriter{&mu, &follow}}).Run(ctx, append([]string{"tail"}, url...))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := strings.Count(follow.String(), "\n")
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != cli.ExitInterrupted || strings.Count(follow.String(), "\n") != len(want) {
		t.Errorf("tail (following): exit %d, %d lines, want 130 and %d lines", code, strings.Count(follow.String(), "\n"), len(want))
	}

	if r := run(t, dir, "check", natsCfg); r.code != 0 || !strings.Contains(r.stdout, "nats") {
		t.Errorf("check of the builtin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Issue 17.5: tail's usage errors are one line and a hint (exit 2); --help is the usage on
// stdout (exit 0); a server that is not there is a runtime failure (exit 1).
func TestTailUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tail", "--help"}, cli.ExitOK, "Usage: slipstream tail"},
		{[]string{"help", "tail"}, cli.ExitOK, "Usage: slipstream tail"},
		{[]string{"tail", "--program", "zz"}, cli.ExitUsage, "slipstream tail: --program: invalid hex"},
		{[]string{"tail", "--kinds", "blocks"}, cli.ExitUsage, `slipstream tail: --kinds: unknown kind "blocks"`},
		{[]string{"tail", "--kinds", "block", "--mapping", "6d"}, cli.ExitUsage, "slipstream tail: --program and --mapping select mapping events"},
		{[]string{"tail", "--from-height", "-3"}, cli.ExitUsage, "slipstream tail: --from-height"},
		{[]string{"tail", "extra"}, cli.ExitUsage, `slipstream tail: unexpected argument "extra"`},
		{[]string{"tail", "--nats", "nats://127.0.0.1:1", "--no-follow"}, cli.ExitFailure, "slipstream tail: connecting to nats://127.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		code := (&cli.App{Stdout: &stdout, Stderr: &stderr}).Run(context.Background(), tc.args)
		got := stderr.String()
		if tc.code == cli.ExitOK {
			got = stdout.String()
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		switch {
		case code != tc.code || !strings.HasPrefix(got, tc.want):
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.want)
		case tc.code == cli.ExitUsage && (len(lines) != 2 || lines[1] != "run 'slipstream tail --help' for its usage" || stdout.Len() != 0):
			t.Errorf("%v: a usage error is one line and the hint, on stderr:\n%s", tc.args, stderr.String())
		case tc.code == cli.ExitOK && stderr.Len() != 0:
			t.Errorf("%v: stderr %q", tc.args, stderr.String())
		}
	}
}
