package main

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// profEntry is one function of a `go tool pprof -top` listing.
type profEntry struct {
	flat, cum float64 // percent of the profile's samples
	name      string
}

// profile is a parsed `go tool pprof -top` listing (scripts/bench.sh writes profile-NAME.top).
type profile struct {
	total   string // pprof's "Total samples = …" line
	entries []profEntry
}

// parseProfile reads a `go tool pprof -top` listing: header lines, then one line per function
// "flat flat% sum% cum cum% name".
func parseProfile(rd io.Reader) (profile, error) {
	var p profile
	sc := bufio.NewScanner(rd)
	rows := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "Total samples"); i >= 0 {
			p.total = line[i:]
		}
		if strings.HasPrefix(line, "flat") {
			rows = true
			continue
		}
		f := strings.Fields(line)
		if !rows || len(f) < 6 {
			continue
		}
		flat, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cum, err2 := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		p.entries = append(p.entries, profEntry{flat, cum, strings.Join(f[5:], " ")})
	}
	return p, sc.Err()
}

// pkgOf is the package of a pprof function name, without this module's path:
// "github.com/slipstream-go/slipstream/internal/chain.(*parser).hex" is "internal/chain".
func pkgOf(name string) string {
	name = strings.TrimPrefix(name, "github.com/slipstream-go/slipstream/")
	slash := strings.LastIndex(name, "/")
	if i := strings.Index(name[slash+1:], "."); i >= 0 {
		return name[:slash+1+i]
	}
	return name
}

// byPackage sums the flat shares per package, largest first.
func (p profile) byPackage() []profEntry {
	sum := map[string]float64{}
	for _, e := range p.entries {
		sum[pkgOf(e.name)] += e.flat
	}
	var out []profEntry
	for k, v := range sum {
		out = append(out, profEntry{flat: v, name: k})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].flat != out[j].flat {
			return out[i].flat > out[j].flat
		}
		return out[i].name < out[j].name
	})
	return out
}

// top returns the n entries with the largest key.
func (p profile) top(n int, key func(profEntry) float64) []profEntry {
	es := append([]profEntry(nil), p.entries...)
	sort.SliceStable(es, func(i, j int) bool { return key(es[i]) > key(es[j]) })
	return es[:min(n, len(es))]
}

// writeProfiles writes, for each profile of this run, where its time goes: the flat share per
// package, and the functions with the largest flat and cumulative shares.
func (d *doc) writeProfiles(profs map[string]profile) {
	d.p("### Where the time goes (CPU profiles of this run)")
	d.p("")
	d.p("`scripts/bench.sh` profiles goal (2)'s `Broadcast` and goal (1)'s batch path with `go test")
	d.p("-cpuprofile`, and the largest no-op batch replay of goal (5) with `SLIPSTREAM_CPUPROFILE`;")
	d.p("shares are of the profile's samples (`go tool pprof -top`). `runtime` holds the cgo/purego")
	d.p("transition (`cgocall`, `asmcgocall`), the allocator and the garbage collector.")
	for _, c := range []struct{ name, what string }{
		{"broadcast", "(2) `Broadcast` of one event to the C no-op plugin"},
		{"store-batch", "(1) `UpdateKeyValue` in batches of 256, the C no-op batch plugin subscribed"},
		{"replay", "(5) `slipstream replay` of the largest chain into the no-op batch plugin"},
	} {
		d.p("")
		p, ok := profs[c.name]
		if !ok || len(p.entries) == 0 {
			d.p("%s: not profiled in this run.", c.what)
			continue
		}
		d.p("%s (%s):", c.what, p.total)
		d.p("")
		var pk []string
		for _, e := range p.byPackage()[:min(6, len(p.byPackage()))] {
			pk = append(pk, e.name+" "+strconv.FormatFloat(e.flat, 'f', 1, 64)+"%")
		}
		d.p("- by package (flat): %s", strings.Join(pk, ", "))
		for _, k := range []struct {
			label string
			key   func(profEntry) float64
		}{{"flat", func(e profEntry) float64 { return e.flat }}, {"cumulative", func(e profEntry) float64 { return e.cum }}} {
			var fs []string
			for _, e := range p.top(8, k.key) {
				fs = append(fs, "`"+e.name+"` "+strconv.FormatFloat(k.key(e), 'f', 1, 64)+"%")
			}
			d.p("- largest %s: %s", k.label, strings.Join(fs, ", "))
		}
	}
	d.p("")
}
