package host

import (
	"time"

	"github.com/slipstream-go/slipstream/abi"
)

// State is a plugin's delivery state.
type State string

// The states of a loaded plugin.
const (
	StateActive   State = "active"   // receiving events
	StateDisabled State = "disabled" // error_policy disable tripped; a reload re-enables it
	StateFailed   State = "failed"   // error_policy halt tripped: the node was told to stop
)

// PluginInfo describes a loaded plugin.
type PluginInfo struct {
	Name          string
	ConfigFile    string        // "" for a Go-native plugin registered without config
	Path          string        // the library's resolved path; "" for Go-native plugins
	Native        bool          // a C-ABI library (false: a Go-native plugin)
	ABIVersion    uint32        // what slipstream_abi_version returned (abi.Version for Go plugins)
	Subscriptions abi.EventMask // what subscribed_events returned
	ErrorPolicy   ErrorPolicy
	Delivery      Delivery
	Isolation     Isolation // where the plugin's code runs (process: in a child process)
	State         State
	LoadedAt      time.Time
	// ResumeHeight is what the plugin's resume_height (ResumeHeight) returned at its last
	// load: events below it are skipped (Counters.Skipped). 0: it keeps no position.
	ResumeHeight uint64
	// Position is the height of the last event delivered to the plugin since it loaded into
	// the manager (0: none yet), or, before any, its resume height - 1.
	Position uint64
	// Lag is the journal's last height minus Position (0 without a journal, or when the
	// plugin is up to date).
	Lag      uint64
	Counters Counters
	// UnloadError is what went wrong while the plugin was unloaded ("" when it unloaded
	// cleanly or is still loaded): an OnUnload panic, an error-level line the plugin logged
	// during on_unload, or a failure to close its library.
	UnloadError string
}

func (s *slot) info() PluginInfo {
	cur := s.cur.Load()
	pi := PluginInfo{
		Name:          cur.name,
		ConfigFile:    cur.cfg.File,
		ABIVersion:    abi.Version,
		Subscriptions: cur.mask,
		ErrorPolicy:   cur.cfg.ErrorPolicy,
		Delivery:      cur.cfg.Delivery,
		Isolation:     cur.cfg.Isolation,
		State:         s.state(),
		LoadedAt:      cur.loadedAt,
		ResumeHeight:  cur.resume,
	}
	cur.inst.describe(&pi)
	c := &pi.Counters
	c.Events, c.Calls, c.Errors = s.stats.events(), s.stats.callCount(), s.stats.errors.Load()
	c.Undelivered = s.stats.undeliveredSnapshot()
	c.Dropped = c.Undelivered.Total()
	c.Reloads, c.Suppressed, c.Skipped = s.stats.reloads.Load(), s.stats.suppressed.Load(), s.stats.skipped.Load()
	c.Restarts = s.stats.restarts.Load()
	if rc := s.stats.restartCause.Load(); rc != nil {
		c.RestartCause = *rc
	}
	c.GapHeights = s.stats.gapHeights.Load()
	if p := s.position.Load(); p != 0 || c.Events != 0 {
		pi.Position = uint64(p)
	} else if cur.resume > 0 {
		pi.Position = cur.resume - 1
	}
	if e := s.unloadErr.Load(); e != nil {
		pi.UnloadError = *e
	}
	for k := range c.ByKind {
		c.ByKind[k] = s.stats.kind(k)
	}
	c.Latency = s.stats.latency.Snapshot()
	if le := s.stats.lastErr.Load(); le != nil {
		c.LastError, c.LastErrAt = le.msg, le.at
	}
	if q := s.async.Load(); q != nil {
		c.QueueDepth = q.depth()
	}
	return pi
}
