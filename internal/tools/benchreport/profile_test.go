package main

import (
	"bytes"
	"strings"
	"testing"
)

// sampleTop is the start of a real `go tool pprof -top` listing (a replay profile).
const sampleTop = `File: slipstream
Type: cpu
Time: Dec 2, 2026 at 6:51pm (UTC)
Duration: 4.62s, Total samples = 2.22s (48.05%)
Showing nodes accounting for 2.10s, 94.59% of 2.22s total
      flat  flat%   sum%        cum   cum%
     0.42s 18.92% 18.92%      0.42s 18.92%  runtime.memmove
     0.20s  9.01% 27.93%      0.91s 40.99%  github.com/slipstream-go/slipstream/internal/chain.(*parser).fields.func1
     0.10s  4.50% 32.43%      0.20s  9.01%  github.com/slipstream-go/slipstream/internal/chain.(*parser).hex
     0.05s  2.25% 34.68%      0.17s  7.66%  github.com/slipstream-go/slipstream/finalize.(*MemoryStorage).Put
     0.01s  0.45% 35.14%      1.50s 67.57%  main.main
`

func TestParseProfile(t *testing.T) {
	p, err := parseProfile(strings.NewReader(sampleTop))
	if err != nil {
		t.Fatal(err)
	}
	if p.total != "Total samples = 2.22s (48.05%)" {
		t.Errorf("total = %q", p.total)
	}
	if len(p.entries) != 5 {
		t.Fatalf("entries = %d, want 5: %+v", len(p.entries), p.entries)
	}
	if e := p.entries[1]; e.flat != 9.01 || e.cum != 40.99 || !strings.HasSuffix(e.name, "fields.func1") {
		t.Errorf("entry 1 = %+v", e)
	}
	pk := p.byPackage()
	want := []profEntry{{flat: 18.92, name: "runtime"}, {flat: 13.51, name: "internal/chain"}, {flat: 2.25, name: "finalize"}, {flat: 0.45, name: "main"}}
	if len(pk) != len(want) {
		t.Fatalf("byPackage = %+v", pk)
	}
	for i := range want {
		if pk[i].name != want[i].name || pk[i].flat-want[i].flat > 0.001 || want[i].flat-pk[i].flat > 0.001 {
			t.Errorf("byPackage[%d] = %+v, want %+v", i, pk[i], want[i])
		}
	}
	if c := p.top(1, func(e profEntry) float64 { return e.cum }); c[0].name != "main.main" {
		t.Errorf("largest cumulative = %+v", c)
	}
}

func TestPkgOf(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/slipstream-go/slipstream/internal/chain.(*parser).hex": "internal/chain",
		"runtime.mallocgc":                      "runtime",
		"github.com/ebitengine/purego.SyscallN": "github.com/ebitengine/purego",
		"main.main":                             "main",
	} {
		if got := pkgOf(in); got != want {
			t.Errorf("pkgOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteProfiles(t *testing.T) {
	p, _ := parseProfile(strings.NewReader(sampleTop))
	var b bytes.Buffer
	d := &doc{w: &b}
	d.writeProfiles(map[string]profile{"replay": p})
	out := b.String()
	for _, s := range []string{"Where the time goes", "not profiled in this run", "internal/chain 13.5%", "`main.main` 67.6%"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
}
