package ctest

import (
	"os"
	"strings"
	"testing"
)

// ReadLines returns the lines of a text file without their newlines (nil for an empty
// file), failing the test if it cannot be read. The test plugins' records, NDJSON output
// and the command's files are read with it.
func ReadLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
