// Command benchreport turns the outputs of `make bench` (go test -bench text, and the JSON
// summaries of replay runs) into BENCHMARKS.md: every figure with the command that produced
// it, the ratios the project's goals are stated in, and whether each goal holds.
//
//	go run ./internal/tools/benchreport -dir build/bench > BENCHMARKS.md
//
// With -journal DIR it instead reads the journal a `slipstream replay --journal DIR` left and
// prints what the report's journal figures need (journal_bytes, journal_events,
// journal_payload: the size of its segment files, the events it holds, their payload bytes).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipstream-go/slipstream/internal/journal"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a unit ("ns/op",
// "ns/event", "B/op", "allocs/op", "MB/s") to the values of its runs.
type results map[string]map[string][]float64

func (r results) add(name, unit string, v float64) {
	if r[name] == nil {
		r[name] = map[string][]float64{}
	}
	r[name][unit] = append(r[name][unit], v)
}

// median returns the median of a benchmark's unit, and false if it was not measured.
func (r results) median(name, unit string) (float64, bool) {
	vs := r[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	return s[len(s)/2], true
}

// parseBench reads `go test -bench` output.
func parseBench(rd io.Reader, r results, meta map[string]string) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"cpu: ", "goos: ", "goarch: "} {
			if strings.HasPrefix(line, k) {
				meta[strings.TrimSuffix(k, ": ")] = strings.TrimPrefix(line, k)
			}
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			r.add(name, f[i+1], v)
		}
	}
	return sc.Err()
}

// replayRun is one `slipstream replay --json` summary, labelled by its file name
// (replay-<label>.json, or replay-<label>@<n>.json for the n-th of repeated runs, which
// medianRuns reduces to one).
type replayRun struct {
	Label    string
	Runs     int     // how many runs of the label there were (the median one is this)
	Min, Max float64 // their lowest and highest events/s
	Blocks   uint64  `json:"blocks"`
	Events   uint64  `json:"events"`
	Seconds  float64 `json:"wall_seconds"`
	MaxRSSKB int64   `json:"max_rss_kb"`
	GCCycles int     `json:"gc_cycles"`
	GoHeapKB int64   `json:"go_heap_kb"`
	Plugins  []struct {
		Name       string  `json:"name"`
		Events     uint64  `json:"events"`
		EventsPerS float64 `json:"events_per_sec"`
	} `json:"plugins"`
}

func main() {
	dir := flag.String("dir", "build/bench", "directory with the outputs of make bench")
	jdir := flag.String("journal", "", "print the size, events and payload bytes of the journal in this directory, and exit")
	flag.Parse()
	if *jdir != "" {
		st, err := journalStats(*jdir)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("journal_bytes=%d\njournal_events=%d\njournal_payload=%d\n", st.bytes, st.events, st.payload)
		return
	}
	r := results{}
	meta := map[string]string{}
	var replays []replayRun
	files, _ := filepath.Glob(filepath.Join(*dir, "*"))
	sort.Strings(files)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v (skipped)\n", err)
			continue
		}
		switch {
		case strings.HasSuffix(f, ".txt"):
			err = parseBench(fh, r, meta)
		case strings.HasSuffix(f, ".json") && strings.HasPrefix(filepath.Base(f), "replay-"):
			var run replayRun
			if err = json.NewDecoder(fh).Decode(&run); err == nil {
				run.Label, _, _ = strings.Cut(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "replay-"), ".json"), "@")
				replays = append(replays, run)
			}
		}
		fh.Close()
		if err != nil { // its figures are "not measured"; the rest of the report stands
			fmt.Fprintf(os.Stderr, "benchreport: %s: %v (skipped)\n", f, err)
		}
	}
	journals := map[string]map[string]string{}
	envs, _ := filepath.Glob(filepath.Join(*dir, "journal-*.env"))
	for _, f := range envs {
		journals[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "journal-"), ".env")] = readFile(f)
	}
	profs := map[string]profile{}
	tops, _ := filepath.Glob(filepath.Join(*dir, "profile-*.top"))
	for _, f := range tops {
		fh, err := os.Open(f)
		if err == nil {
			profs[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "profile-"), ".top")], err = parseProfile(fh)
			fh.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %s: %v (skipped)\n", f, err)
		}
	}
	write(os.Stdout, r, meta, medianRuns(replays), readFile(filepath.Join(*dir, "engine.env")), journals, profs)
}

// medianRuns keeps, of the runs of each label, the one with the median events/s (of an even
// number, the lower of the two middle ones), with the count and range of all, in the order
// of their file names without the run numbers (label-100 before label-1000).
func medianRuns(runs []replayRun) []replayRun {
	byLabel := map[string][]replayRun{}
	var labels []string
	for _, rr := range runs {
		if _, ok := byLabel[rr.Label]; !ok {
			labels = append(labels, rr.Label)
		}
		byLabel[rr.Label] = append(byLabel[rr.Label], rr)
	}
	sort.Slice(labels, func(i, j int) bool { return labels[i]+"." < labels[j]+"." })
	out := make([]replayRun, 0, len(labels))
	for _, l := range labels {
		g := byLabel[l]
		sort.SliceStable(g, func(i, j int) bool { return g[i].eps() < g[j].eps() })
		m := g[(len(g)-1)/2]
		m.Runs, m.Min, m.Max = len(g), g[0].eps(), g[len(g)-1].eps()
		out = append(out, m)
	}
	return out
}

// eps is the run's events/s over its wall time (0 if it took none).
func (rr replayRun) eps() float64 {
	if rr.Seconds <= 0 {
		return 0
	}
	return float64(rr.Events) / rr.Seconds
}

type jstats struct{ bytes, events, payload int64 }

// journalStats reads every record of the journal in dir.
func journalStats(dir string) (jstats, error) {
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		return jstats{}, err
	}
	defer j.Close()
	st := jstats{bytes: j.Window().Bytes}
	rd := j.Reader(0)
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		for i := range rec.Events {
			st.events++
			st.payload += int64(rec.Events[i].Size())
		}
	}
}

func readFile(p string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(p)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

// report helpers

type doc struct {
	w        io.Writer
	r        results
	replays  []replayRun
	profiles map[string]profile // profile-NAME.top, by NAME
}

func (d *doc) p(format string, args ...any) { fmt.Fprintf(d.w, format+"\n", args...) }

// section writes a section's title and a blank line; then, if measured, its introduction (one
// line each) and a blank line, else "Not measured in this run.". It returns measured, so that
// the caller writes the section's table only then.
func (d *doc) section(title string, measured bool, intro ...string) bool {
	d.p("%s", title)
	d.p("")
	if !measured {
		d.p("Not measured in this run.")
		return false
	}
	for _, l := range intro {
		d.p("%s", l)
	}
	d.p("")
	return true
}

// v formats a median, or "—" when the benchmark did not run.
func (d *doc) v(name, unit string) string {
	x, ok := d.r.median(name, unit)
	if !ok {
		return "—"
	}
	return num(x)
}

func num(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case x != 0 && x < 0.1 && x > -0.1: // three significant digits
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

// ratio formats a/b of two medians.
func (d *doc) ratio(a, ua, b, ub string) (float64, string) {
	x, ok1 := d.r.median(a, ua)
	y, ok2 := d.r.median(b, ub)
	if !ok1 || !ok2 || y == 0 {
		return 0, "—"
	}
	return x / y, strconv.FormatFloat(x/y, 'f', 2, 64) + "×"
}

func verdict(ok bool, measured bool) string {
	switch {
	case !measured:
		return "not measured"
	case ok:
		return "**holds**"
	}
	return "**does not hold**"
}

func write(w io.Writer, r results, meta map[string]string, replays []replayRun, engine map[string]string, journals map[string]map[string]string, profs map[string]profile) {
	d := &doc{w: w, r: r, replays: replays, profiles: profs}
	d.p("# Benchmarks")
	d.p("")
	d.p("Written by `make bench` (script: `scripts/bench.sh`, report: `internal/tools/benchreport`). Every")
	d.p("figure is the median of the runs in one `make bench`; comparisons were measured side by side in")
	d.p("that run. Re-run `make bench` to reproduce; the raw outputs are in `build/bench/`.")
	d.p("")
	d.p("| | |")
	d.p("|---|---|")
	d.p("| date | %s |", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	d.p("| machine | %s, %s/%s, %d logical CPUs |", meta["cpu"], meta["goos"], meta["goarch"], runtime.NumCPU())
	d.p("| Go | %s |", runtime.Version())
	d.p("")

	d.p("## 1. Delivery to a C no-op plugin (host)")
	d.p("")
	d.p("`go test -run '^$' -bench 'BareSyscallN|Broadcast|BroadcastPaired|HasSubscribers' -count 5 ./host` and")
	d.p("`go test -tags cgobench -run '^$' -bench . -count 5 ./internal/cgobench`. Event: four 32-byte fields.")
	d.p("")
	d.p("| benchmark | ns/op | ns/event | B/op | allocs/op |")
	d.p("|---|---|---|---|---|")
	for _, n := range []string{"BenchmarkBareSyscallN", "BenchmarkBroadcast", "BenchmarkBroadcastBatch/16", "BenchmarkBroadcastBatch/256",
		"BenchmarkBroadcastBatch/4096", "BenchmarkHasSubscribers", "BenchmarkCgoBroadcast", "BenchmarkCgoBroadcastBatch/16",
		"BenchmarkCgoBroadcastBatch/256", "BenchmarkCgoBroadcastBatch/4096"} {
		d.p("| %s | %s | %s | %s | %s |", strings.TrimPrefix(n, "Benchmark"), d.v(n, "ns/op"), d.v(n, "ns/event"), d.v(n, "B/op"), d.v(n, "allocs/op"))
	}
	d.p("")
	single, singleS := d.ratio("BenchmarkBroadcast", "ns/op", "BenchmarkBareSyscallN", "ns/op")
	bcast, _ := r.median("BenchmarkBroadcast", "ns/op")
	batch, batchOK := r.median("BenchmarkBroadcastBatch/256", "ns/event")
	bAlloc, _ := r.median("BenchmarkBroadcast", "B/op")
	bareAlloc, _ := r.median("BenchmarkBareSyscallN", "B/op")
	has, hasOK := r.median("BenchmarkHasSubscribers", "ns/op")
	d.p("| goal | measured | verdict |")
	d.p("|---|---|---|")
	d.p("| single `Broadcast` ≤ 150 ns/op | %s ns | %s |", num(bcast), verdict(bcast <= 150, bcast > 0))
	d.p("| single `Broadcast` ≤ 2× a bare `purego.SyscallN` | %s | %s |", singleS, verdict(single <= 2, single > 0))
	d.p("| no allocation by the host's own code (Broadcast B/op − bare SyscallN B/op) | %s B | %s |", num(bAlloc-bareAlloc), verdict(bAlloc-bareAlloc <= 0, single > 0))
	d.p("| `BroadcastBatch` of 256 ≤ 10 ns/event incl. encoding | %s ns | %s |", num(batch), verdict(batch <= 10, batchOK))
	for _, n := range []string{"16", "256", "4096"} {
		x, s := d.ratio("BenchmarkBroadcastBatch/"+n, "ns/event", "BenchmarkCgoBroadcastBatch/"+n, "ns/event")
		d.p("| batch of %s ≤ 1.5× the cgo batch per event | %s | %s |", n, s, verdict(x <= 1.5, x > 0))
	}
	d.p("| `HasSubscribers` ≤ 2 ns | %s ns | %s |", num(has), verdict(has <= 2, hasOK))
	d.p("")
	d.p("Where the batch goal misses, the cost is the encoding, not the call: each event's 128 payload")
	d.p("bytes and its 104-byte struct are copied into memory outside the Go heap that C may read (no")
	d.p("pinning, cgo's pointer rules kept); the cgo baseline above encodes the same way and pays the")
	d.p("same per event, so purego's price is the ratio to it.")
	d.p("")
	d.p("The bare `purego.SyscallN` allocates its variadic argument slice (24 B for three arguments:")
	d.p("`//go:uintptrescapes` makes it escape); the host passes each plugin's own argument buffer")
	d.p("instead, so a delivery allocates nothing. A cgo call is cheaper than purego's (which copies the")
	d.p("arguments into a 32-slot block and goes through `runtime.cgocall`); batching amortizes the")
	d.p("difference.")
	d.p("")
	d.p("`BroadcastPaired` times 256 bare calls and 256 Broadcasts side by side, alternating, and takes")
	d.p("the median ratio: %s× (Broadcast %s vs bare %s ns per call). Section 10's goal (2) uses it.",
		d.v("BenchmarkBroadcastPaired", "ratio"), d.v("BenchmarkBroadcastPaired", "broadcast-ns/call"), d.v("BenchmarkBroadcastPaired", "bare-ns/call"))
	d.p("")

	d.p("## 2. Same work in Go, C and Rust")
	d.p("")
	d.p("`go test -run '^$' -bench PluginLanguages -count 5 ./e2e`: each plugin adds up every byte of")
	d.p("every event (`testdata/plugins/noop.c -DNOOP_SUM`, `sdk/rust/testplugins/summer`, a Go-native")
	d.p("plugin); batches of 256 events of four 32-byte fields.")
	d.p("")
	d.p("| plugin | ns/event | B/op |")
	d.p("|---|---|---|")
	for _, n := range []string{"go", "c", "rust"} {
		name := "BenchmarkPluginLanguages/" + n
		d.p("| %s | %s | %s |", n, d.v(name, "ns/event"), d.v(name, "B/op"))
	}
	d.p("")

	d.p("## 3. Fan-out")
	d.p("")
	d.p("`go test -run '^$' -bench FanOut -count 3 ./host`: one Block event of 32 B … 1 MiB to 1, 4, 16 C")
	d.p("no-op plugins. The block is copied once per broadcast (MB/s counts the block once).")
	d.p("")
	d.p("| plugins \\ size | 32 B | 1 KiB | 64 KiB | 1 MiB |")
	d.p("|---|---|---|---|---|")
	for _, pl := range []string{"1", "4", "16"} {
		row := "| " + pl + " |"
		for _, sz := range []string{"32B", "1KiB", "64KiB", "1MiB"} {
			row += " " + d.v("BenchmarkFanOut/plugins="+pl+"/size="+sz, "ns/op") + " ns |"
		}
		d.p("%s", row)
	}
	x1, _ := r.median("BenchmarkFanOut/plugins=1/size=1MiB", "ns/op")
	x16, _ := r.median("BenchmarkFanOut/plugins=16/size=1MiB", "ns/op")
	s1, _ := r.median("BenchmarkFanOut/plugins=1/size=32B", "ns/op")
	s16, _ := r.median("BenchmarkFanOut/plugins=16/size=32B", "ns/op")
	if x1 > 0 && s1 > 0 {
		d.p("")
		d.p("1 MiB to 16 plugins costs %s× 1 MiB to one plugin (a copy per plugin would be ~16×); 32 B to 16", strconv.FormatFloat(x16/x1, 'f', 2, 64))
		d.p("plugins costs %s× one plugin: linear in plugins, one call each.", strconv.FormatFloat(s16/s1, 'f', 1, 64))
	}
	d.p("")

	d.p("## 4. `finalize.Store` overhead")
	d.p("")
	d.p("`go test -run '^$' -bench UpdateKeyValue -count 10 ./finalize`: one `UpdateKeyValue` (a canonical")
	d.p("write outside a batch, and inside batches of 1024).")
	d.p("")
	d.p("| case | ns/op | B/op | allocs/op |")
	d.p("|---|---|---|---|")
	for _, base := range []string{"BenchmarkUpdateKeyValue", "BenchmarkUpdateKeyValueInBatch"} {
		for _, c := range []string{"no-manager", "manager-unsubscribed", "subscriber-go", "subscriber-c"} {
			n := base + "/" + c
			d.p("| %s | %s | %s | %s |", strings.TrimPrefix(n, "Benchmark"), d.v(n, "ns/op"), d.v(n, "B/op"), d.v(n, "allocs/op"))
		}
	}
	d.p("")
	d.p("| goal | measured | verdict |")
	d.p("|---|---|---|")
	for _, base := range []string{"BenchmarkUpdateKeyValue", "BenchmarkUpdateKeyValueInBatch"} {
		x, s := d.ratio(base+"/manager-unsubscribed", "ns/op", base+"/no-manager", "ns/op")
		a1, _ := r.median(base+"/manager-unsubscribed", "allocs/op")
		a0, _ := r.median(base+"/no-manager", "allocs/op")
		d.p("| %s: unsubscribed manager ÷ no manager ≤ 1.05, same allocs | %s, allocs %s vs %s | %s |",
			strings.TrimPrefix(base, "Benchmark"), s, num(a1), num(a0), verdict(x <= 1.05 && a1 == a0, x > 0))
	}
	d.p("")
	d.p("On a shared 2-core machine the run-to-run noise of these ~100 ns operations is several percent;")
	d.p("`-count 10` medians are reported.")
	d.p("")

	if d.section("## 5. End to end: `slipstream replay`", len(replays) > 0,
		"`slipstream gen --ops 64 --stakers 35 --key-space 2000` chains of 100, 1,000 and 10,000 blocks",
		"(10^4 to 10^6 events), replayed from the file (`slipstream replay --input`, streamed) into each",
		"plugin with its defaults; events/s over the wall time (the chain's reading and the store's work",
		"included); peak RSS of the process (`getrusage`); Go garbage collections of the run. The key space",
		"is bounded (2000 keys per mapping) so that the chain's own state, which the in-memory store must",
		"hold, grows ever slower (about 2,100 keys after 100 blocks, 7,600 after 1,000, 14,500 after",
		"10,000; the whole live Go heap stays near 1 MB, GODEBUG=gctrace=1): what else grows is the pipeline's.",
		"The replays the goals compare run several times (runs); the row is the run with the median",
		"events/s, with its RSS and GCs: a 10^4-event replay takes a few milliseconds, and the events/s of",
		"single runs of it differ by up to 2× on a shared machine (the range).",
	) {
		d.p("| run | blocks | events | runs | seconds | events/s | range of the runs | peak RSS | GCs |")
		d.p("|---|---|---|---|---|---|---|---|---|")
		for _, rr := range replays {
			spread := "—"
			if rr.Runs > 1 {
				spread = num(rr.Min) + " – " + num(rr.Max)
			}
			d.p("| %s | %d | %d | %d | %s | %s | %s | %s MiB | %d |", rr.Label, rr.Blocks, rr.Events, rr.Runs, num(rr.Seconds), num(rr.eps()), spread, num(float64(rr.MaxRSSKB)/1024), rr.GCCycles)
		}
	}
	d.p("")

	if d.section("## 6. Against the engines' own limit", len(engine) > 0,
		"`plugins/example_c/bench_insert` inserts rows of the history plugin's shape in a plain C loop as",
		"fast as the engine allows (SQLite: one prepared INSERT, WAL, large transactions; PostgreSQL:",
		"COPY): the engine's own limit. The plugin's figure is events/s of a replay of mapping updates",
		"(`--stakers 0`) into it with `batch_blocks: 32` (one transaction per 32 blocks, as the loop",
		"uses large transactions); with the default of one transaction per block see section 5.",
	) {
		d.p("| engine | plain C insert loop, rows/s | history plugin, events/s | ratio | goal ≥ 0.5 |")
		d.p("|---|---|---|---|---|")
		for _, e := range []string{"sqlite", "postgres"} {
			lim, _ := strconv.ParseFloat(engine[e+"_limit"], 64)
			pl := 0.0
			for _, rr := range replays {
				if rr.Label == "engine-"+e {
					for _, p := range rr.Plugins {
						pl = p.EventsPerS
					}
				}
			}
			ratio := "—"
			if lim > 0 && pl > 0 {
				ratio = strconv.FormatFloat(pl/lim, 'f', 2, 64)
			}
			d.p("| %s | %s | %s | %s | %s |", e, num(lim), num(pl), ratio, verdict(lim > 0 && pl/lim >= 0.5, lim > 0 && pl > 0))
		}
		d.p("")
		d.p("The plugin's figure includes everything a replay does (reading the chain, the store, the host);")
		d.p("the loop only inserts. For PostgreSQL the loop uses COPY, which the plugin cannot: replays must")
		d.p("be idempotent (at-least-once delivery after a crash), so it writes prepared multi-row")
		d.p("`INSERT … ON CONFLICT DO NOTHING`, and COPY cannot skip rows that are already stored.")
	}
	d.p("")
	d.extraSections(journals, engine)
}

// run returns the replay of a label.
func (d *doc) run(label string) (replayRun, bool) {
	for _, rr := range d.replays {
		if rr.Label == label {
			return rr, true
		}
	}
	return replayRun{}, false
}

// eps returns a replay's events/s over its wall time, 0 when it did not run.
func (d *doc) eps(label string) float64 {
	rr, _ := d.run(label)
	return rr.eps()
}

func (d *doc) rss(label string) float64 {
	rr, _ := d.run(label)
	return float64(rr.MaxRSSKB) / 1024
}

// sizes returns the chain sizes (blocks) replayed into label-<blocks>, smallest first.
func (d *doc) sizes(prefix string) []int {
	var out []int
	for _, rr := range d.replays {
		if n, err := strconv.Atoi(strings.TrimPrefix(rr.Label, prefix)); err == nil && strings.HasPrefix(rr.Label, prefix) {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func ratioS(x float64) string {
	if x <= 0 {
		return "—"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "×"
}

// flat writes the "peak RSS flat" goal row of the replays prefix-<blocks> (largest ≤ 1.25×
// smallest).
func (d *doc) flat(what, prefix string) {
	sz := d.sizes(prefix)
	if len(sz) < 2 {
		d.p("| %s: peak RSS flat (largest ≤ 1.25× smallest) | — | not measured |", what)
		return
	}
	a, b := prefix+strconv.Itoa(sz[0]), prefix+strconv.Itoa(sz[len(sz)-1])
	ra, rb := d.rss(a), d.rss(b)
	ea, _ := d.run(a)
	eb, _ := d.run(b)
	d.p("| %s: peak RSS flat from %d to %d events (≤ 1.25×) | %s → %s MiB (%s) | %s |", what, ea.Events, eb.Events,
		num(ra), num(rb), ratioS(rb/ra), verdict(rb <= 1.25*ra, ra > 0 && rb > 0))
	if ea.GoHeapKB > 0 && eb.GoHeapKB > 0 { // where the growth is
		ha, hb := float64(ea.GoHeapKB)/1024, float64(eb.GoHeapKB)/1024
		d.p("| %s: the same less the Go heap's resident memory at the end (go_heap_kb): the binary, C memory, stacks, the collector's metadata | %s → %s MiB (%s); the Go heap %s → %s MiB | measured |",
			what, num(ra-ha), num(rb-hb), ratioS((rb-hb)/(ra-ha)), num(ha), num(hb))
	}
	// A run too short to collect has a peak without the Go heap's growth to its minimum
	// goal (4 MB): the same sizes compared from the first run that collected.
	if ea.GCCycles > 0 || eb.GCCycles == 0 {
		return
	}
	for _, n := range sz[1 : len(sz)-1] {
		c := prefix + strconv.Itoa(n)
		ec, _ := d.run(c)
		if ec.GCCycles == 0 {
			continue
		}
		rc := d.rss(c)
		d.p("| %s: the same from %d events, the smallest run that collected (the %d-event run ended before the first garbage collection: its peak lacks the Go heap's growth to the collector's 4 MB minimum goal) | %s → %s MiB (%s) | %s |",
			what, ec.Events, ea.Events, num(rc), num(rb), ratioS(rb/rc), verdict(rb <= 1.25*rc, rc > 0))
		return
	}
}

func (d *doc) extraSections(journals map[string]map[string]string, engine map[string]string) {
	r := d.r
	d.p("## 7. Journal (issue 13)")
	d.p("")
	d.p("Replays of section 5's chains into the Rust NDJSON plugin without and with `slipstream replay")
	d.p("--journal DIR`; journal bytes: the size of its segment files after the replay, payload: the")
	d.p("events' payload bytes read back from it (`benchreport -journal DIR`). And")
	d.p("`go test -run '^$' -bench '^Benchmark(BroadcastJournal|JournalAppend|CatchUp)$' -count 3 ./host`.")
	d.p("")
	d.p("| benchmark | events/s | overhead-B/event | B/op | allocs/op |")
	d.p("|---|---|---|---|---|")
	for _, n := range []string{"BenchmarkBroadcastJournal/off", "BenchmarkBroadcastJournal/on", "BenchmarkJournalAppend", "BenchmarkCatchUp"} {
		d.p("| %s | %s | %s | %s | %s |", strings.TrimPrefix(n, "Benchmark"), d.v(n, "events/s"), d.v(n, "overhead-B/event"), d.v(n, "B/op"), d.v(n, "allocs/op"))
	}
	d.p("")
	d.p("| goal | measured | verdict |")
	d.p("|---|---|---|")
	sz := d.sizes("rust-ndjson-journal-")
	if len(sz) == 0 {
		d.p("| replay with `--journal` ≥ 0.8× without | — | not measured |")
		d.p("| journal bytes per event ≤ payload + 32 | — | not measured |")
	}
	for _, n := range sz {
		b := strconv.Itoa(n)
		on, off := d.eps("rust-ndjson-journal-"+b), d.eps("rust-ndjson-"+b)
		rr, _ := d.run("rust-ndjson-" + b)
		x := 0.0
		if off > 0 {
			x = on / off
		}
		d.p("| %d events: replay with `--journal` ≥ 0.8× without | %s vs %s events/s: %s | %s |", rr.Events, num(on), num(off), ratioS(x), verdict(x >= 0.8, on > 0 && off > 0))
		j := journals[b]
		by, _ := strconv.ParseFloat(j["journal_bytes"], 64)
		ev, _ := strconv.ParseFloat(j["journal_events"], 64)
		pl, _ := strconv.ParseFloat(j["journal_payload"], 64)
		if ev > 0 {
			d.p("| %d events: journal bytes per event ≤ payload + 32 | %s B vs payload %s B (+%s) | %s |", rr.Events, num(by/ev), num(pl/ev), num((by-pl)/ev), verdict(by-pl <= 32*ev, true))
		} else {
			d.p("| %d events: journal bytes per event ≤ payload + 32 | — | not measured |", rr.Events)
		}
	}
	ov, ovOK := r.median("BenchmarkJournalAppend", "overhead-B/event")
	d.p("| `BenchmarkJournalAppend`: bytes per event over the payload ≤ 32 | %s B | %s |", num(ov), verdict(ov <= 32, ovOK))
	d.flat("replay with `--journal`", "rust-ndjson-journal-")
	cu, _ := r.median("BenchmarkCatchUp", "events/s")
	live, _ := r.median("BenchmarkBroadcastJournal/on", "events/s")
	d.p("| catch-up of 10,000 blocks ≥ live throughput (CatchUp ÷ BroadcastJournal/on) | %s vs %s events/s: %s | %s |", num(cu), num(live), ratioS(cu/max(live, 1e-9)), verdict(cu >= live, cu > 0 && live > 0))
	d.p("")

	d.p("## 8. Isolation (issue 16)")
	d.p("")
	d.p("Replays of the 1,000-block chain of section 5 into the history plugin (SQLite) with `delivery:")
	d.p("\"async\"` in process and with `isolation: \"process\"` (peak RSS is the node's process only);")
	d.p("`go test -run '^$' -bench '^BenchmarkIsolatedBroadcast$' -count 3 ./host` (the node's side of")
	d.p("an event, a Flush at the end) and `-bench '^BenchmarkIsolatedCrashRestart$' -benchtime 5x`")
	d.p("(from the Broadcast the child dies on, SIGSEGV, to the Flush after its restarted child")
	d.p("acknowledged it: detection, the first restart's 50 ms backoff, the start, the re-delivery).")
	d.p("")
	d.p("| benchmark | ns/event | B/op | allocs/op |")
	d.p("|---|---|---|---|")
	for _, m := range []string{"async", "process"} {
		for _, n := range []string{"1", "256"} {
			name := "BenchmarkIsolatedBroadcast/" + m + "/batch=" + n
			d.p("| %s | %s | %s | %s |", strings.TrimPrefix(name, "Benchmark"), d.v(name, "ns/event"), d.v(name, "B/op"), d.v(name, "allocs/op"))
		}
	}
	d.p("")
	d.p("| goal | measured | verdict |")
	d.p("|---|---|---|")
	pr, as := d.eps("history-sqlite-process-1000"), d.eps("history-sqlite-async-1000")
	d.p("| history plugin replay isolated ≥ 0.8× in process async | %s vs %s events/s: %s | %s |", num(pr), num(as), ratioS(pr/max(as, 1e-9)), verdict(pr >= 0.8*as, pr > 0 && as > 0))
	for _, n := range []string{"1", "256"} {
		x, xs := d.ratio("BenchmarkIsolatedBroadcast/process/batch="+n, "ns/event", "BenchmarkIsolatedBroadcast/async/batch="+n, "ns/event")
		d.p("| batch=%s: node's cost per event isolated ≤ 2× an in-process async enqueue | %s | %s |", n, xs, verdict(x <= 2, x > 0))
	}
	cr, crOK := r.median("BenchmarkIsolatedCrashRestart", "ms/restart")
	cs := "—"
	if crOK {
		cs = num(cr) + " ms"
	}
	d.p("| crash-to-resumed time (a figure) | %s | %s |", cs, map[bool]string{true: "measured", false: "not measured"}[crOK])
	d.p("")

	d.p("## 9. NATS JetStream (issue 17)")
	d.p("")
	d.p("`go test -run '^$' -bench 'PluginPublish|NatsGoAsync' -benchtime 200000x -count 3 ./plugins/nats`:")
	d.p("the plugin through a host.Manager into an in-process JetStream (file storage), against nats.go's")
	d.p("own async-publish loop of the same messages.")
	d.p("")
	d.p("| goal | measured | verdict |")
	d.p("|---|---|---|")
	x, xs := d.ratio("BenchmarkPluginPublish", "events/s", "BenchmarkNatsGoAsync", "events/s")
	d.p("| plugin ≥ 0.7× nats.go's loop | %s vs %s events/s: %s | %s |", d.v("BenchmarkPluginPublish", "events/s"), d.v("BenchmarkNatsGoAsync", "events/s"), xs, verdict(x >= 0.7, x > 0))
	d.p("")

	d.p("## 10. Issue 15 goals")
	d.p("")
	d.p("(1) from `-bench 'UpdateKeyValue|HeldDelivery' ./finalize` (batches of 256, the C no-op plugin with")
	d.p("on_broadcast_batch) and section 1's cgo baseline; (2) section 1; (3) section 6 with the plugin's")
	d.p("default settings; (4) `go test -run '^$' -bench HistoryFreshness -benchtime 1x ./e2e` (p99-ms);")
	d.p("(5) replays of section 5's chains into `testdata/plugins/noop.c -DNOOP_BATCH` built as a plugin,")
	d.p("on this machine's %d logical CPUs.", runtime.NumCPU())
	d.p("")
	d.p("| case | ns/op | B/op | allocs/op |")
	d.p("|---|---|---|---|")
	for _, c := range []string{"no-manager", "subscriber-c", "subscriber-c-batch"} {
		n := "BenchmarkUpdateKeyValueInBatch256/" + c
		d.p("| %s | %s | %s | %s |", strings.TrimPrefix(n, "Benchmark"), d.v(n, "ns/op"), d.v(n, "B/op"), d.v(n, "allocs/op"))
	}
	d.p("")
	d.p("| goal | measured | verdict |")
	d.p("|---|---|---|")
	c1, _ := r.median("BenchmarkUpdateKeyValueInBatch256/subscriber-c-batch", "ns/op")
	c0, _ := r.median("BenchmarkUpdateKeyValueInBatch256/no-manager", "ns/op")
	cg, okg := r.median("BenchmarkCgoBroadcastBatch/256", "ns/event")
	// The verdict takes BenchmarkHeldDelivery's paired figure (both stores timed batch by
	// batch, alternating): the difference of the two medians above is as wide as the
	// machine's drift between the two benchmarks.
	hd, okh := r.median("BenchmarkHeldDelivery", "delivery-ns/event")
	d.p("| (1) store → C no-op plugin, batches of 256: delivery per event ≤ cgo batch per event | %s ns (BenchmarkHeldDelivery, paired; the two medians above differ by %s) vs %s ns | %s |", num(hd), num(c1-c0), num(cg), verdict(hd <= cg, okh && okg))
	_, bxs := d.ratio("BenchmarkBroadcast", "ns/op", "BenchmarkBareSyscallN", "ns/op")
	ba, _ := r.median("BenchmarkBroadcast", "allocs/op")
	sa, _ := r.median("BenchmarkBareSyscallN", "allocs/op")
	bb, _ := r.median("BenchmarkBroadcast", "B/op")
	sb, _ := r.median("BenchmarkBareSyscallN", "B/op")
	// The verdict takes BenchmarkBroadcastPaired's ratio (both timed side by side, 256
	// calls at a time, alternating); host allocations are Broadcast's beyond the bare
	// call's own (purego's variadic slice, which the host avoids).
	px, okp := r.median("BenchmarkBroadcastPaired", "ratio")
	pb, _ := r.median("BenchmarkBroadcastPaired", "broadcast-ns/call")
	ps, _ := r.median("BenchmarkBroadcastPaired", "bare-ns/call")
	d.p("| (2) `Broadcast` ≤ 1.5× a bare SyscallN, 0 allocations by the host | %s× paired (Broadcast %s vs bare %s ns; separately %s), Broadcast %s allocs/op, %s B/op (bare %s, %s B) | %s |",
		num(px), num(pb), num(ps), bxs, num(ba), num(bb), num(sa), num(sb), verdict(px <= 1.5 && ba-sa <= 0 && bb-sb <= 0, okp))
	for _, e := range []string{"sqlite", "postgres"} {
		lim, _ := strconv.ParseFloat(engine[e+"_limit"], 64)
		pl := d.eps("engine-" + e + "-default")
		d.p("| (3) %s: history plugin replay with default settings ≥ 0.8× the plain loop | %s vs %s: %s | %s |", e, num(pl), num(lim), ratioS(pl/max(lim, 1e-9)), verdict(pl >= 0.8*lim, pl > 0 && lim > 0))
	}
	var fresh []string
	for n := range r {
		if strings.HasPrefix(n, "BenchmarkHistoryFreshness") && len(r[n]["p99-ms"]) > 0 {
			fresh = append(fresh, n)
		}
	}
	sort.Strings(fresh)
	if len(fresh) == 0 {
		d.p("| (4) live freshness p99 ≤ 250 ms | — | not measured |")
	}
	for _, n := range fresh {
		v, _ := r.median(n, "p99-ms")
		d.p("| (4) live freshness p99 ≤ 250 ms (%s) | %s ms | %s |", strings.TrimPrefix(n, "Benchmark"), num(v), verdict(v <= 250, true))
	}
	nb := d.sizes("noop-batch-")
	if len(nb) == 0 {
		d.p("| (5) replay into a no-op batch plugin ≥ 1.5M events/s | — | not measured |")
	}
	for _, n := range nb {
		l := "noop-batch-" + strconv.Itoa(n)
		rr, _ := d.run(l)
		e := d.eps(l)
		d.p("| (5) %d events: replay into a no-op batch plugin ≥ 1.5M events/s | %s events/s | %s |", rr.Events, num(e), verdict(e >= 1.5e6, e > 0))
	}
	d.flat("(5) no-op batch replay", "noop-batch-")
	d.p("")
	d.writeProfiles(d.profiles)
}
