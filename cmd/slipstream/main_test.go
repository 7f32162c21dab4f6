package main

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
)

func TestProfiled(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		want    int
		wantRan bool
	}{
		{"off", "", 7, true},
		{"written", filepath.Join(dir, "cpu.prof"), 7, true},
		{"unwritable", filepath.Join(dir, "missing", "cpu.prof"), 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			code := profiled(tc.path, func() int {
				ran = true
				if tc.path != "" && pprof.StartCPUProfile(nil) == nil {
					t.Error("the profile is not running while the command runs")
				}
				return 7
			})
			if code != tc.want || ran != tc.wantRan {
				t.Fatalf("profiled = %d (ran %v), want %d (ran %v)", code, ran, tc.want, tc.wantRan)
			}
			if tc.path != "" && tc.wantRan {
				if st, err := os.Stat(tc.path); err != nil || st.Size() == 0 {
					t.Fatalf("no profile written: %v", err)
				}
			}
		})
	}
}
