package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/admin"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestMetrics scrapes /metrics after a known replay and checks every slipstream series.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	// rec-a: MappingUpdate and Block (mask 9); rec-b: everything, every 4th event fails.
	e.config(e.dir, "rec-a", "events: 9")
	e.config(e.dir, "rec-b", "fail_every: 4")
	for _, n := range []string{"rec-a", "rec-b"} {
		e.mustStatus(e.do("POST", "/plugins", `{"config_file": "`+n+`.json5"}`, e.bearer()), 201, "load "+n)
	}

	// 6 blocks, each with 2 mapping updates, 1 removal, 1 staking reward and the block
	// (5 events); block 3 is aborted (nothing delivered).
	s := e.store
	prog, mapping := []byte("credits.aleo"), []byte("account")
	if err := s.InitializeMapping(prog, mapping); err != nil {
		t.Fatal(err)
	}
	stakers := []finalize.Staker{{Address: []byte("s"), Validator: []byte("v"), Stake: 1}}
	for h := uint32(1); h <= 6; h++ {
		err := s.Finalize(h, finalize.RealRun, func() error {
			for _, k := range []string{"a", "b"} {
				if err := s.UpdateKeyValue(prog, mapping, []byte(k), []byte{byte(h)}); err != nil {
					return err
				}
			}
			if err := s.RemoveKeyValue(prog, mapping, []byte("b")); err != nil {
				return err
			}
			s.NotifyStakingRewards(stakers, stakers, h)
			s.NotifyBlock([]byte("block"), h)
			if h == 3 {
				return errAborted
			}
			return nil
		})
		if err != nil && h != 3 {
			t.Fatal(err)
		}
	}
	const committed = 5

	// The plugin JSON and the metrics read the same counters.
	var infoB struct {
		Counters struct{ Calls, Errors uint64 }
	}
	if err := json.Unmarshal(e.do("GET", "/plugins/rec-b", "", "").body, &infoB); err != nil {
		t.Fatal(err)
	}

	r := e.mustStatus(e.do("GET", "/metrics", "", ""), 200, "metrics")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	mfs := parse(t, r.body)

	type series struct {
		name, plugin, kind string
		want               float64
	}
	for _, sr := range []series{
		{"slipstream_plugin_events_total", "rec-a", "MappingUpdate", 2 * committed},
		{"slipstream_plugin_events_total", "rec-a", "Block", committed},
		{"slipstream_plugin_events_total", "rec-b", "MappingUpdate", 2 * committed},
		{"slipstream_plugin_events_total", "rec-b", "MappingRemoval", committed},
		{"slipstream_plugin_events_total", "rec-b", "StakingReward", committed},
		{"slipstream_plugin_events_total", "rec-b", "Block", committed},
		{"slipstream_plugin_calls_total", "rec-a", "", 3 * committed},
		{"slipstream_plugin_calls_total", "rec-b", "", 5 * committed},
		{"slipstream_plugin_errors_total", "rec-a", "", 0},
		{"slipstream_plugin_errors_total", "rec-b", "", 5 * committed / 4},
		{"slipstream_plugin_errors_total", "rec-b", "", float64(infoB.Counters.Errors)},
		{"slipstream_plugin_dropped_total", "rec-a", "", 0},
		{"slipstream_plugin_queue_depth", "rec-b", "", 0},
		{"slipstream_plugin_loaded", "rec-a", "", 1},
		{"slipstream_plugin_loaded", "rec-b", "", 1},
		{"slipstream_plugin_disabled", "rec-b", "", 0},
		{"slipstream_plugin_failed", "rec-b", "", 0},
	} {
		labels := map[string]string{"plugin": sr.plugin}
		if sr.kind != "" {
			labels["kind"] = sr.kind
		}
		if got := value(t, mfs, sr.name, labels); got != sr.want {
			t.Errorf("%s%v = %v, want %v", sr.name, labels, got, sr.want)
		}
	}
	// rec-a did not subscribe to these kinds: no series.
	for _, kind := range []string{"MappingRemoval", "StakingReward"} {
		if m := find(mfs, "slipstream_plugin_events_total", map[string]string{"plugin": "rec-a", "kind": kind}); m != nil {
			t.Errorf("series for an unsubscribed kind %s", kind)
		}
	}
	for name, want := range map[string]float64{
		"slipstream_store_blocks_finalized_total": committed,
		"slipstream_store_events_produced_total":  5 * committed,
		"slipstream_store_aborted_batches_total":  1,
	} {
		if got := value(t, mfs, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for name, typ := range map[string]dto.MetricType{
		"slipstream_plugin_events_total":              dto.MetricType_COUNTER,
		"slipstream_plugin_queue_depth":               dto.MetricType_GAUGE,
		"slipstream_plugin_callback_duration_seconds": dto.MetricType_HISTOGRAM,
		"slipstream_store_aborted_batches_total":      dto.MetricType_COUNTER,
	} {
		if mf := mfs[name]; mf == nil || mf.GetType() != typ || mf.GetHelp() == "" {
			t.Errorf("%s: family %v, want type %v with help", name, mf, typ)
		}
	}

	// The histogram: every call of these short runs is timed, so its count is the number
	// of calls; buckets are cumulative, bounded by powers of two from 64ns.
	for _, plugin := range []string{"rec-a", "rec-b"} {
		m := find(mfs, "slipstream_plugin_callback_duration_seconds", map[string]string{"plugin": plugin})
		if m == nil {
			t.Fatalf("no histogram for %s", plugin)
		}
		h := m.GetHistogram()
		calls := value(t, mfs, "slipstream_plugin_calls_total", map[string]string{"plugin": plugin})
		if float64(h.GetSampleCount()) != calls || h.GetSampleSum() <= 0 {
			t.Errorf("%s: histogram count %d sum %v, calls %v", plugin, h.GetSampleCount(), h.GetSampleSum(), calls)
		}
		bs := h.GetBucket() // 31 finite bounds, then +Inf
		if len(bs) != 32 || !math.IsInf(bs[31].GetUpperBound(), 1) || bs[31].GetCumulativeCount() != h.GetSampleCount() {
			t.Fatalf("%s: buckets %v", plugin, bs)
		}
		var prev uint64
		for i, b := range bs[:31] {
			if want := float64(uint64(64)<<i) / 1e9; math.Abs(b.GetUpperBound()-want) > 1e-15 {
				t.Errorf("bucket %d bound %v, want %v", i, b.GetUpperBound(), want)
			}
			if b.GetCumulativeCount() < prev {
				t.Errorf("bucket %d not cumulative", i)
			}
			prev = b.GetCumulativeCount()
		}
		if prev != h.GetSampleCount() { // no callback took a minute
			t.Errorf("%s: last finite bucket %d, count %d", plugin, prev, h.GetSampleCount())
		}
	}

	// After an unload its series are gone; the store's stay.
	e.mustStatus(e.do("DELETE", "/plugins/rec-a", "", e.bearer()), 204, "unload")
	mfs = scrape(t, e)
	if m := find(mfs, "slipstream_plugin_loaded", map[string]string{"plugin": "rec-a"}); m != nil {
		t.Error("rec-a still has series after its unload")
	}
	if got := value(t, mfs, "slipstream_plugin_loaded", map[string]string{"plugin": "rec-b"}); got != 1 {
		t.Errorf("rec-b loaded = %v", got)
	}
	if got := value(t, mfs, "slipstream_store_blocks_finalized_total", nil); got != committed {
		t.Errorf("blocks = %v", got)
	}
	// Go runtime and process metrics are served too.
	if mfs["go_goroutines"] == nil {
		t.Error("no go_goroutines")
	}
}

// TestMetricsAsyncQueue: the queue depth and dropped counters of an async plugin that
// cannot keep up (on_full drop).
func TestMetricsAsyncQueue(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Store = nil })
	e.loadNotify("slow", "delivery: 'async', queue_capacity: 4, on_full: 'drop', sleep_us: 20000, events: 8", 50)
	mfs := scrape(t, e)
	dropped := value(t, mfs, "slipstream_plugin_dropped_total", map[string]string{"plugin": "slow"})
	depth := value(t, mfs, "slipstream_plugin_queue_depth", map[string]string{"plugin": "slow"})
	if dropped == 0 || depth > 4 {
		t.Errorf("dropped %v depth %v", dropped, depth)
	}
	if mfs["slipstream_store_blocks_finalized_total"] != nil {
		t.Error("store metrics without a store")
	}
	waitFor(t, "the queue to drain", func() bool {
		return value(t, scrape(t, e), "slipstream_plugin_queue_depth", map[string]string{"plugin": "slow"}) == 0
	})
	mfs = scrape(t, e)
	events := value(t, mfs, "slipstream_plugin_events_total", map[string]string{"plugin": "slow", "kind": "Block"})
	if events+dropped != 50 {
		t.Errorf("events %v + dropped %v != 50", events, dropped)
	}
}

// TestScrapeWhileReplaying scrapes concurrently with a replay and plugin changes (-race).
func TestScrapeWhileReplaying(t *testing.T) {
	e := newEnv(t)
	e.config(e.dir, "rec-a", "delivery: 'async'")
	stop := e.replay()
	defer stop()
	var wg sync.WaitGroup
	deadline := time.Now().Add(300 * time.Millisecond)
	wg.Go(func() {
		for time.Now().Before(deadline) {
			if r := e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, e.bearer()); r.status != 201 {
				t.Errorf("load: %d %s", r.status, r.body)
				return
			}
			if r := e.do("DELETE", "/plugins/rec-a", "", e.bearer()); r.status != 204 {
				t.Errorf("unload: %d %s", r.status, r.body)
				return
			}
		}
	})
	for time.Now().Before(deadline) {
		mfs := scrape(t, e)
		if mfs["slipstream_store_blocks_finalized_total"] == nil {
			t.Fatal("no store metrics")
		}
	}
	wg.Wait()
}

// scrape gets and parses /metrics.
func scrape(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	return parse(t, e.mustStatus(e.do("GET", "/metrics", "", ""), 200, "metrics").body)
}

func parse(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return mfs
}

// find returns the metric of family name whose labels include labels, or nil.
func find(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		if len(have) != len(labels) {
			continue
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns the value of a counter or gauge series, failing the test if absent.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(mfs, name, labels)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// gauge returns a per-plugin series' value.
func gauge(t *testing.T, mfs map[string]*dto.MetricFamily, name, plugin string) float64 {
	t.Helper()
	return value(t, mfs, name, map[string]string{"plugin": plugin})
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jsonText is v as JSON, for comparisons with readable failures.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = ctest.LogBuffer

// TestMetricsDroppedByCause: the events a plugin did not get are exposed by cause, in
// /metrics and in the plugin's JSON, and with the delivered ones they add up (issue 18.11).
func TestMetricsDroppedByCause(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Store = nil })
	e.loadNotify("flaky", "fail_every: 1, error_policy: 'disable', max_consecutive_errors: 2, events: 8", 10)
	mfs := scrape(t, e)
	for cause, want := range map[string]float64{"disabled": 8, "queue_full": 0, "drain_timeout": 0, "reload_overflow": 0, "failed": 0} {
		if got := value(t, mfs, "slipstream_plugin_undelivered_total", map[string]string{"plugin": "flaky", "cause": cause}); got != want {
			t.Errorf("undelivered{cause=%q} = %v, want %v", cause, got, want)
		}
	}
	if got := gauge(t, mfs, "slipstream_plugin_dropped_total", "flaky"); got != 8 {
		t.Errorf("dropped %v, want 8", got)
	}
	if got := value(t, mfs, "slipstream_plugin_events_total", map[string]string{"plugin": "flaky", "kind": "Block"}); got != 2 {
		t.Errorf("events %v, want 2 (delivered before disable tripped)", got)
	}
	if got := gauge(t, mfs, "slipstream_plugin_reloads_total", "flaky"); got != 0 {
		t.Errorf("reloads %v", got)
	}
	if got := gauge(t, mfs, "slipstream_plugin_restarts_total", "flaky"); got != 0 {
		t.Errorf("restarts %v", got)
	}
	p := e.plugin(e.mustStatus(e.do("GET", "/plugins/flaky", "", ""), 200, "get"))
	if p.Counters.Dropped != 8 || p.Counters.Undelivered["disabled"] != 8 || len(p.Counters.Undelivered) != 5 {
		t.Errorf("JSON counters %+v", p.Counters)
	}
	e.mustStatus(e.do("PUT", "/plugins/flaky", `{}`, e.bearer()), 200, "reload")
	if got := gauge(t, scrape(t, e), "slipstream_plugin_reloads_total", "flaky"); got != 1 {
		t.Errorf("reloads after one reload %v", got)
	}
}

// TestMetricsResumeHeight: a plugin's resume height and the events skipped below it are
// exposed in /metrics and in its JSON (ABI 1.1).
func TestMetricsResumeHeight(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Store = nil })
	if err := e.loadNotify("resuming", "resume: 5, events: 8", 10); err != nil {
		t.Fatal(err)
	}
	mfs := scrape(t, e)
	if got := gauge(t, mfs, "slipstream_plugin_resume_height", "resuming"); got != 5 {
		t.Errorf("resume_height %v, want 5", got)
	}
	if got := gauge(t, mfs, "slipstream_plugin_skipped_total", "resuming"); got != 5 {
		t.Errorf("skipped %v, want 5 (heights 0 to 4)", got)
	}
	p := e.plugin(e.mustStatus(e.do("GET", "/plugins/resuming", "", ""), 200, "get"))
	if p.ResumeHeight != 5 || p.Counters.Skipped != 5 || p.Counters.Events != 5 || p.Counters.Dropped != 0 {
		t.Errorf("JSON: resume %d, counters %+v", p.ResumeHeight, p.Counters)
	}
}

// TestJournalPositionAndLag: with a journal, GET /journal shows its window, a plugin's JSON
// and /metrics its position and lag, and /metrics the window.
func TestJournalPositionAndLag(t *testing.T) {
	jm := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(t.TempDir()))
	t.Cleanup(jm.Unload)
	for h := uint32(1); h <= 20; h++ {
		if err := jm.BroadcastBatch([]abi.Event{{Kind: abi.Block, BlockHeight: h, Block: []byte("b")}}); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, func(c *admin.Config) { c.Store, c.Manager = nil, jm })
	e.config(e.dir, "resuming", "resume: 5, events: 8")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "resuming.json5"}`, e.bearer()), 201, "load")
	if err := jm.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := e.plugin(e.mustStatus(e.do("GET", "/plugins/resuming", "", ""), 200, "get"))
	if p.Position != 20 || p.Lag != 0 || p.Counters.Events != 16 {
		t.Errorf("JSON: position %d lag %d events %d; want 20, 0, 16 (heights 5 to 20 from the journal)", p.Position, p.Lag, p.Counters.Events)
	}
	var j admin.Journal
	if err := json.Unmarshal(e.mustStatus(e.do("GET", "/journal", "", ""), 200, "journal").body, &j); err != nil {
		t.Fatal(err)
	}
	if !j.Enabled || j.FirstHeight != 1 || j.LastHeight != 20 || j.Bytes == 0 {
		t.Errorf("GET /journal = %+v, want heights 1 to 20", j)
	}
	mfs := scrape(t, e)
	if got := gauge(t, mfs, "slipstream_plugin_position", "resuming"); got != 20 {
		t.Errorf("position %v, want 20", got)
	}
	if got := gauge(t, mfs, "slipstream_plugin_lag", "resuming"); got != 0 {
		t.Errorf("lag %v, want 0", got)
	}
	if got := value(t, mfs, "slipstream_journal_last_height", nil); got != 20 {
		t.Errorf("journal last height %v, want 20", got)
	}
}
