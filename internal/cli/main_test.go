package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

// bin is the slipstream binary built once for this test process (TestMain).
var bin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "slipstream-cli-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "slipstream")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		// Built as the product ships: without cgo.
		cmd := exec.Command(goTool, "build", "-o", bin, "github.com/slipstream-go/slipstream/cmd/slipstream")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building slipstream: %v\n%s", err, out)
			return 1
		}
		defer ctest.Cleanup()
		return m.Run()
	}()
	os.Exit(code)
}

// result is how a run of the binary ended.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary with args in dir (the test's temp dir when "") and waits for it.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running slipstream %v: %v", args, err)
	}
	return result{so.String(), se.String(), code}
}

// writeFile writes content to dir/name with mode 0600 (the host refuses config files
// others can write) and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// recorderConfig writes a config for the C recorder test plugin recording into dir/out and
// returns the config's path; extra is more JSON5 keys ("fail_every: 1, …").
func recorderConfig(t *testing.T, dir, name, out, extra string) string {
	t.Helper()
	lib := ctest.Plugin(t, "recorder", "testdata/plugins/recorder.c")
	if extra != "" {
		extra = ", " + extra
	}
	return writeFile(t, dir, name, fmt.Sprintf("{libpath: %q, out: %q%s}", lib, filepath.Join(dir, out), extra))
}

// events returns the "ev …" lines the recorder wrote.
func events(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, l := range ctest.ReadLines(t, path) {
		if strings.HasPrefix(l, "ev ") {
			out = append(out, l)
		}
	}
	return out
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// gen writes a chain with `slipstream gen` and returns its path.
func gen(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	r := run(t, dir, append([]string{"gen", "-q", "-o", p}, args...)...)
	if r.code != 0 {
		t.Fatalf("gen: exit %d: %s", r.code, r.stderr)
	}
	return p
}
