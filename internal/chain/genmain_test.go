package chain

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenMain(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := GenMain(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	t.Run("help", func(t *testing.T) {
		for _, h := range []string{"-h", "--help"} {
			code, out, errs := run(h)
			if code != 0 || errs != "" || !strings.Contains(out, "Usage: slipstream gen") || !strings.Contains(out, "-abort-rate") {
				t.Fatalf("%s: code %d, stdout %q, stderr %q", h, code, out, errs)
			}
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{{"-nope"}, {"-blocks", "x"}, {"extra"}, {"-abort-rate", "2"}, {"-start-height", "4294967296"}} {
			// One line saying what is wrong and a hint, not the whole usage.
			code, out, errs := run(args...)
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "slipstream gen: ") ||
				lines[1] != "run 'slipstream gen --help' for its usage" {
				t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, out, errs)
			}
		}
	})
	t.Run("stdout and file agree", func(t *testing.T) {
		args := []string{"-blocks", "20", "-ops", "10", "-stakers", "5", "-seed", "9", "-block-size", "64", "-abort-rate", "0.2"}
		code, out, errs := run(append(args, "-q")...)
		if code != 0 || errs != "" {
			t.Fatalf("code %d, stderr %q", code, errs)
		}
		file := filepath.Join(dir, "c.ndjson")
		code, _, errs = run(append(args, "-o", file)...)
		if code != 0 || !strings.Contains(errs, "wrote 20 blocks") {
			t.Fatalf("code %d, stderr %q", code, errs)
		}
		data, err := os.ReadFile(file)
		if err != nil || string(data) != out {
			t.Fatalf("file differs from stdout (%v)", err)
		}
		if n := strings.Count(out, "\n"); n != 20 {
			t.Fatalf("%d lines", n)
		}
		blocks, err := readAll(t, file, out)
		if err != nil || len(blocks) != 20 || len(blocks[5].Bytes) != 64 {
			t.Fatalf("read back: %d blocks, %v", len(blocks), err)
		}
	})
	t.Run("unwritable output", func(t *testing.T) {
		if code, _, errs := run("-blocks", "1", "-o", filepath.Join(dir, "missing", "x")); code != 1 || !strings.Contains(errs, "slipstream gen:") {
			t.Fatalf("code %d, stderr %q", code, errs)
		}
	})
}
