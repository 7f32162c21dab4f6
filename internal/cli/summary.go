package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// Summary is what replay reports at the end (--json prints it as JSON).
type Summary struct {
	Blocks      int             `json:"blocks"`         // blocks replayed (committed + aborted)
	Committed   int             `json:"committed"`      // blocks whose batch committed
	Aborted     int             `json:"aborted"`        // blocks whose batch was aborted (nothing delivered)
	FirstHeight uint32          `json:"first_height"`   // height of the first block replayed
	LastHeight  uint32          `json:"last_height"`    // height of the last block replayed
	Events      uint64          `json:"events"`         // deliveries: events delivered, summed over the plugins
	WallSeconds float64         `json:"wall_seconds"`   // wall time of the replay (loading and unloading excluded)
	EventsPerS  float64         `json:"events_per_sec"` // Events / WallSeconds
	MaxRSSKB    int64           `json:"max_rss_kb"`     // peak resident memory of the process (getrusage), 0 where unknown
	GCCycles    uint32          `json:"gc_cycles"`      // Go garbage collections during the process's life (a run without any has not reached the collector's minimum heap)
	GoHeapKB    int64           `json:"go_heap_kb"`     // the Go heap's memory at the end, less what it returned to the system: the part of the RSS the Go heap holds
	Interrupted bool            `json:"interrupted"`    // stopped by SIGINT/SIGTERM
	Error       string          `json:"error"`          // what stopped or failed the replay; "" on success
	Plugins     []PluginSummary `json:"plugins"`
}

// PluginSummary is one plugin's line of the summary.
type PluginSummary struct {
	Name          string   `json:"name"`
	Library       string   `json:"library"`
	ABIVersion    string   `json:"abi_version"`
	Subscriptions []string `json:"subscriptions"`
	State         string   `json:"state"` // active, disabled (error_policy disable) or failed (error_policy halt)
	Events        uint64   `json:"events"`
	Errors        uint64   `json:"errors"`
	Dropped       uint64   `json:"dropped"`     // subscribed events not delivered (the sum of Undelivered)
	Undelivered   Causes   `json:"undelivered"` // Dropped by cause
	Reloads       uint64   `json:"reloads"`
	Isolation     string   `json:"isolation"`               // none, or process (a child process)
	Restarts      uint64   `json:"restarts"`                // restarts of its child process after a crash, exit or hang
	RestartCause  string   `json:"restart_cause,omitempty"` // why it last restarted ("signal SIGSEGV", "exit status 3", "no answer in 30s")
	Suppressed    uint64   `json:"warnings_suppressed"`     // callback-failure warnings the rate limiter did not log
	ResumeHeight  uint64   `json:"resume_height"`           // where the plugin said it resumes (0: it keeps no position)
	Skipped       uint64   `json:"skipped"`                 // events below it, not delivered: the plugin had them
	Calls         uint64   `json:"calls"`
	P50Nanos      int64    `json:"p50_ns"` // callback latency, median (per call; a batch is one call)
	P99Nanos      int64    `json:"p99_ns"`
	EventsPerS    float64  `json:"events_per_sec"` // Events over the replay's wall time
	LastError     string   `json:"last_error"`     // the last callback error, "" if none
	UnloadError   string   `json:"unload_error"`   // what went wrong while it unloaded, "" if nothing
}

// Causes is the JSON form of host.Undelivered: a plugin's undelivered events by cause.
type Causes struct {
	QueueFull      uint64 `json:"queue_full"`      // async queue full with on_full "drop"
	Disabled       uint64 `json:"disabled"`        // error_policy disable tripped
	DrainTimeout   uint64 `json:"drain_timeout"`   // left in the async queue at unload
	ReloadOverflow uint64 `json:"reload_overflow"` // reload buffer full with on_full "drop"
	Failed         uint64 `json:"failed"`          // after error_policy halt failed an async plugin
}

// goMemory returns the number of completed garbage collections and the Go heap's memory
// that is not returned to the system (KiB).
func goMemory() (gcs uint32, heapKB int64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC, int64(ms.HeapSys-ms.HeapReleased) >> 10
}

func newSummary(r *replayer, infos []host.PluginInfo, wall time.Duration) *Summary {
	s := &Summary{
		Blocks: r.blocks, Committed: r.committed, Aborted: r.aborted,
		FirstHeight: r.firstHeight, LastHeight: r.lastHeight,
		WallSeconds: wall.Seconds(), Plugins: []PluginSummary{}, MaxRSSKB: maxRSSKB(),
	}
	s.GCCycles, s.GoHeapKB = goMemory()
	for _, p := range infos {
		c := p.Counters
		ps := PluginSummary{
			Name: p.Name, Library: p.Path, ABIVersion: abi.VersionString(p.ABIVersion),
			Subscriptions: kindNames(p.Subscriptions), State: string(p.State),
			Events: c.Events, Errors: c.Errors, Dropped: c.Dropped, Calls: c.Calls,
			Undelivered: Causes{QueueFull: c.Undelivered.QueueFull, Disabled: c.Undelivered.Disabled,
				DrainTimeout: c.Undelivered.DrainTimeout, ReloadOverflow: c.Undelivered.ReloadOverflow, Failed: c.Undelivered.Failed},
			Reloads: c.Reloads, Isolation: p.Isolation.String(), Restarts: c.Restarts, RestartCause: c.RestartCause, Suppressed: c.Suppressed, ResumeHeight: p.ResumeHeight, Skipped: c.Skipped,
			P50Nanos: int64(c.Latency.Quantile(0.5)), P99Nanos: int64(c.Latency.Quantile(0.99)),
			LastError: c.LastError, UnloadError: p.UnloadError,
		}
		if wall > 0 {
			ps.EventsPerS = float64(c.Events) / wall.Seconds()
		}
		s.Events += c.Events
		s.Plugins = append(s.Plugins, ps)
	}
	if wall > 0 {
		s.EventsPerS = float64(s.Events) / wall.Seconds()
	}
	return s
}

func kindNames(m abi.EventMask) []string {
	out := []string{}
	for _, k := range m.Kinds() {
		out = append(out, k.String())
	}
	return out
}

func (s *Summary) writeJSON(w io.Writer) {
	b, _ := json.MarshalIndent(s, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

func (s *Summary) writeText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "PLUGIN\tSTATE\t")
	fmt.Fprintln(tw, "EVENTS\tERRORS\tDROPPED\tP50\tP99\tEVENTS/S\t")
	for _, p := range s.Plugins {
		fmt.Fprintf(tw, "%s\t%s\t", p.Name, p.State)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t\n", p.Events, p.Errors, p.Dropped,
			fmtDur(time.Duration(p.P50Nanos)), fmtDur(time.Duration(p.P99Nanos)), humanRate(p.EventsPerS))
	}
	tw.Flush()
	// Where a plugin resumed, why a plugin is not active, and what failed while it unloaded.
	for _, p := range s.Plugins {
		if p.ResumeHeight > 0 {
			fmt.Fprintf(w, "%s resumed at height %d: %d events below it skipped (it had them)\n", p.Name, p.ResumeHeight, p.Skipped)
		}
		if p.Restarts > 0 {
			fmt.Fprintf(w, "%s: child process restarted %d times (last cause: %s)\n", p.Name, p.Restarts, p.RestartCause)
		}
		if p.State != string(host.StateActive) && p.LastError != "" {
			fmt.Fprintf(w, "%s %s: %s\n", p.Name, p.State, p.LastError)
		}
		if p.UnloadError != "" {
			fmt.Fprintf(w, "%s failed while unloading: %s\n", p.Name, p.UnloadError)
		}
	}
	status := ""
	switch {
	case s.Interrupted && s.Error != "":
		status = " (interrupted; failed: the error is on stderr)"
	case s.Interrupted:
		status = " (interrupted)"
	case s.Error != "":
		status = " (failed: the error is on stderr)"
	}
	rss := ""
	if s.MaxRSSKB > 0 {
		rss = fmt.Sprintf(", peak RSS %d MiB", s.MaxRSSKB/1024)
	}
	plugins := "plugins"
	if len(s.Plugins) == 1 {
		plugins = "plugin"
	}
	fmt.Fprintf(w, "blocks %d (%d committed, %d aborted), heights %d..%d, deliveries %d (events delivered, summed over %d %s), wall %s, %s deliveries/s%s%s\n",
		s.Blocks, s.Committed, s.Aborted, s.FirstHeight, s.LastHeight, s.Events, len(s.Plugins), plugins,
		time.Duration(s.WallSeconds*float64(time.Second)).Round(time.Millisecond), humanRate(s.EventsPerS), rss, status)
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Millisecond).String()
}
