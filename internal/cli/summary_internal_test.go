package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/host"
)

// TestSummaryShowsStatesAndFailures: the summary names each plugin's state, says why one
// is disabled or failed and what went wrong while one unloaded, and --json carries all of
// it in fields that are always there.
func TestSummaryShowsStatesAndFailures(t *testing.T) {
	t.Parallel()
	infos := []host.PluginInfo{
		{Name: "good", State: host.StateActive, Counters: host.Counters{Events: 10}},
		{Name: "flaky", State: host.StateDisabled, Counters: host.Counters{Events: 3, LastError: "event 3 fails"}},
		{Name: "strict", State: host.StateFailed, Counters: host.Counters{Events: 1, LastError: "event 1 fails"}},
		{Name: "leaky", State: host.StateActive, UnloadError: "cannot flush the database", Counters: host.Counters{Events: 10}},
	}
	sum := newSummary(&replayer{blocks: 2, committed: 2}, infos, time.Second)
	sum.Error = "it failed"
	var text bytes.Buffer
	sum.writeText(&text)
	for _, want := range []string{
		"PLUGIN", "STATE",
		"flaky disabled: event 3 fails\n",
		"strict failed: event 1 fails\n",
		"leaky failed while unloading: cannot flush the database\n",
		"deliveries 24 (events delivered, summed over 4 plugins)", "24 deliveries/s",
		"(failed: the error is on stderr)",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}
	states := map[string]string{}
	for _, l := range strings.Split(text.String(), "\n")[1:5] {
		f := strings.Fields(l)
		states[f[0]] = f[1]
	}
	if states["good"] != "active" || states["flaky"] != "disabled" || states["strict"] != "failed" || states["leaky"] != "active" {
		t.Errorf("states %v:\n%s", states, text.String())
	}

	var js bytes.Buffer
	sum.writeJSON(&js)
	var back Summary
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Error != "it failed" || back.Plugins[1].State != "disabled" || back.Plugins[2].State != "failed" ||
		back.Plugins[3].UnloadError != "cannot flush the database" || back.Events != 24 {
		t.Errorf("JSON %s", js.String())
	}
}
