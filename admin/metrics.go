package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipstream-go/slipstream/host"
)

// Metric names, all prefixed slipstream_.
const (
	MetricPluginEvents          = "slipstream_plugin_events_total"
	MetricPluginCalls           = "slipstream_plugin_calls_total"
	MetricPluginErrors          = "slipstream_plugin_errors_total"
	MetricPluginDropped         = "slipstream_plugin_dropped_total"
	MetricPluginUndelivered     = "slipstream_plugin_undelivered_total"
	MetricPluginReloads         = "slipstream_plugin_reloads_total"
	MetricPluginRestarts        = "slipstream_plugin_restarts_total"
	MetricPluginSuppressed      = "slipstream_plugin_warnings_suppressed_total"
	MetricPluginSkipped         = "slipstream_plugin_skipped_total"
	MetricPluginResumeHeight    = "slipstream_plugin_resume_height"
	MetricPluginPosition        = "slipstream_plugin_position"
	MetricPluginLag             = "slipstream_plugin_lag"
	MetricPluginGapHeights      = "slipstream_plugin_journal_gap_heights_total"
	MetricJournalFirstHeight    = "slipstream_journal_first_height"
	MetricJournalLastHeight     = "slipstream_journal_last_height"
	MetricJournalBytes          = "slipstream_journal_bytes"
	MetricPluginQueueDepth      = "slipstream_plugin_queue_depth"
	MetricPluginCallbackSeconds = "slipstream_plugin_callback_duration_seconds"
	MetricPluginLoaded          = "slipstream_plugin_loaded"
	MetricPluginDisabled        = "slipstream_plugin_disabled"
	MetricPluginFailed          = "slipstream_plugin_failed"
	MetricStoreBlocksFinalized  = "slipstream_store_blocks_finalized_total"
	MetricStoreEventsProduced   = "slipstream_store_events_produced_total"
	MetricStoreAbortedBatches   = "slipstream_store_aborted_batches_total"
)

// latencyBuckets is the number of buckets of host.LatencySnapshot; the last one has no
// upper bound and becomes the histogram's +Inf bucket.
const latencyBuckets = len(host.LatencySnapshot{}.Buckets)

// collector reads the manager's and the store's counters at scrape time: the delivery path
// does no work for metrics beyond the counters the host keeps anyway.
type collector struct {
	m     *host.Manager
	store StatsSource

	events, calls, errors, dropped, undelivered, reloads, restarts, suppressed, skipped, resume, queueDepth, latency, loaded, disabled, failed *prometheus.Desc
	blocks, produced, aborted                                                                                                                  *prometheus.Desc
	position, lag, gaps, jFirst, jLast, jBytes                                                                                                 *prometheus.Desc

	bounds []float64 // upper bounds of the finite latency buckets, in seconds
}

// NewCollector returns a Prometheus collector of the plugins of m and of store's counters
// (store may be nil). Per plugin (label plugin):
//
//	slipstream_plugin_events_total{plugin,kind}         counter: events delivered, per subscribed kind
//	slipstream_plugin_calls_total                       counter: callback invocations (a batch is one)
//	slipstream_plugin_errors_total                      counter: failed callbacks
//	slipstream_plugin_dropped_total                     counter: subscribed events not delivered (host.Counters.Dropped)
//	slipstream_plugin_undelivered_total{plugin,cause}   counter: the same by cause (queue_full, disabled,
//	                                                    drain_timeout, reload_overflow, failed)
//	slipstream_plugin_reloads_total                     counter: successful reloads
//	slipstream_plugin_restarts_total                    counter: restarts of an isolated plugin's child process
//	slipstream_plugin_warnings_suppressed_total         counter: callback-failure warnings the rate limiter did not log
//	slipstream_plugin_skipped_total                     counter: events below the plugin's resume height (it had them)
//	slipstream_plugin_resume_height                     gauge: the resume height the plugin reported at its last load
//	slipstream_plugin_position                          gauge: the height of the last event delivered
//	slipstream_plugin_lag                               gauge: the journal's last height - position (0 without a journal)
//	slipstream_plugin_journal_gap_heights_total         counter: heights it needed that the journal no longer held
//	slipstream_plugin_queue_depth                       gauge: events waiting in the async queue
//	slipstream_plugin_callback_duration_seconds         histogram: callback durations (a sample of the calls;
//	                                                    power-of-two buckets from 64ns; a bucket counts calls shorter than its bound)
//	slipstream_plugin_loaded                            gauge: 1 (the plugin is loaded)
//	slipstream_plugin_disabled                          gauge: 1 while disabled by error_policy disable
//	slipstream_plugin_failed                            gauge: 1 once failed with error_policy halt
//
// and, with a journal (host.WithJournal), its window:
//
//	slipstream_journal_first_height                     gauge: the oldest height it holds
//	slipstream_journal_last_height                      gauge: the newest height it holds
//	slipstream_journal_bytes                            gauge: its size on disk
//
// and, with a store:
//
//	slipstream_store_blocks_finalized_total             counter
//	slipstream_store_events_produced_total              counter
//	slipstream_store_aborted_batches_total              counter
//
// A plugin's counters are cumulative over reloads (a reload keeps them and counts itself
// in slipstream_plugin_reloads_total); its series disappear when it is unloaded.
func NewCollector(m *host.Manager, store StatsSource) prometheus.Collector {
	p := []string{"plugin"}
	c := &collector{
		m:       m,
		store:   store,
		events:  prometheus.NewDesc(MetricPluginEvents, "Events delivered to the plugin, by event kind.", []string{"plugin", "kind"}, nil),
		calls:   prometheus.NewDesc(MetricPluginCalls, "Callback invocations of the plugin (a batch call is one).", p, nil),
		errors:  prometheus.NewDesc(MetricPluginErrors, "Failed callbacks of the plugin.", p, nil),
		dropped: prometheus.NewDesc(MetricPluginDropped, "Subscribed events the plugin did not get (the sum of slipstream_plugin_undelivered_total).", p, nil),
		undelivered: prometheus.NewDesc(MetricPluginUndelivered, "Subscribed events the plugin did not get, by cause.",
			[]string{"plugin", "cause"}, nil),
		reloads:    prometheus.NewDesc(MetricPluginReloads, "Successful reloads of the plugin.", p, nil),
		restarts:   prometheus.NewDesc(MetricPluginRestarts, "Restarts of the plugin's child process after it crashed, exited or hung (isolation process).", p, nil),
		suppressed: prometheus.NewDesc(MetricPluginSuppressed, "Callback-failure warnings of the plugin not logged by the rate limiter.", p, nil),
		skipped:    prometheus.NewDesc(MetricPluginSkipped, "Events below the plugin's resume height, not delivered because it has them already.", p, nil),
		resume:     prometheus.NewDesc(MetricPluginResumeHeight, "The resume height the plugin reported at its last load (0: it keeps no position).", p, nil),
		position:   prometheus.NewDesc(MetricPluginPosition, "The height of the last event delivered to the plugin (before any: its resume height - 1).", p, nil),
		lag:        prometheus.NewDesc(MetricPluginLag, "The journal's last height minus the plugin's position (0 without a journal).", p, nil),
		gaps:       prometheus.NewDesc(MetricPluginGapHeights, "Heights the plugin needed that the journal no longer held (journal gap).", p, nil),
		jFirst:     prometheus.NewDesc(MetricJournalFirstHeight, "The oldest height the event journal holds.", nil, nil),
		jLast:      prometheus.NewDesc(MetricJournalLastHeight, "The newest height the event journal holds.", nil, nil),
		jBytes:     prometheus.NewDesc(MetricJournalBytes, "The event journal's size on disk.", nil, nil),
		queueDepth: prometheus.NewDesc(MetricPluginQueueDepth, "Events waiting in the plugin's async queue.", p, nil),
		latency:    prometheus.NewDesc(MetricPluginCallbackSeconds, "Duration of the plugin's broadcast callbacks (sampled).", p, nil),
		loaded:     prometheus.NewDesc(MetricPluginLoaded, "1 for each loaded plugin.", p, nil),
		disabled:   prometheus.NewDesc(MetricPluginDisabled, "1 while the plugin is disabled by error_policy disable (reload to re-enable).", p, nil),
		failed:     prometheus.NewDesc(MetricPluginFailed, "1 once the plugin failed with error_policy halt.", p, nil),
		blocks:     prometheus.NewDesc(MetricStoreBlocksFinalized, "Blocks finalized and committed (real runs).", nil, nil),
		produced:   prometheus.NewDesc(MetricStoreEventsProduced, "Events the store handed to the plugin manager.", nil, nil),
		aborted:    prometheus.NewDesc(MetricStoreAbortedBatches, "Atomic batches rolled back whole (aborted blocks, dry runs).", nil, nil),
		bounds:     make([]float64, latencyBuckets-1),
	}
	for i := range c.bounds {
		c.bounds[i] = host.BucketBound(i).Seconds()
	}
	return c
}

// Describe sends the descriptors of every metric the collector may send.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.events, c.calls, c.errors, c.dropped, c.undelivered, c.reloads, c.restarts, c.suppressed, c.skipped, c.resume, c.queueDepth, c.latency, c.loaded, c.disabled, c.failed} {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.position, c.lag, c.gaps, c.jFirst, c.jLast, c.jBytes} {
		ch <- d
	}
	if c.store != nil {
		ch <- c.blocks
		ch <- c.produced
		ch <- c.aborted
	}
}

// Collect reads the counters (atomic loads only) and sends the metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, pi := range c.m.Plugins() {
		n, k := pi.Name, &pi.Counters
		for _, kind := range pi.Subscriptions.Kinds() {
			if int(kind) < len(k.ByKind) {
				ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(k.ByKind[kind]), n, kind.String())
			}
		}
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(k.Calls), n)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(k.Errors), n)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(k.Dropped), n)
		for _, d := range droppedCauses(k.Undelivered) {
			ch <- prometheus.MustNewConstMetric(c.undelivered, prometheus.CounterValue, float64(d.n), n, d.cause)
		}
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(k.Reloads), n)
		ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(k.Restarts), n)
		ch <- prometheus.MustNewConstMetric(c.suppressed, prometheus.CounterValue, float64(k.Suppressed), n)
		ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(k.Skipped), n)
		ch <- prometheus.MustNewConstMetric(c.resume, prometheus.GaugeValue, float64(pi.ResumeHeight), n)
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(pi.Position), n)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(pi.Lag), n)
		ch <- prometheus.MustNewConstMetric(c.gaps, prometheus.CounterValue, float64(k.GapHeights), n)
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(k.QueueDepth), n)
		ch <- c.histogram(n, k.Latency)
		ch <- prometheus.MustNewConstMetric(c.loaded, prometheus.GaugeValue, 1, n)
		ch <- prometheus.MustNewConstMetric(c.disabled, prometheus.GaugeValue, b2f(pi.State == host.StateDisabled), n)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, b2f(pi.State == host.StateFailed), n)
	}
	if ji, ok := c.m.JournalInfo(); ok {
		ch <- prometheus.MustNewConstMetric(c.jFirst, prometheus.GaugeValue, float64(ji.First))
		ch <- prometheus.MustNewConstMetric(c.jLast, prometheus.GaugeValue, float64(ji.Last))
		ch <- prometheus.MustNewConstMetric(c.jBytes, prometheus.GaugeValue, float64(ji.Bytes))
	}
	if c.store != nil {
		st := c.store.Stats()
		ch <- prometheus.MustNewConstMetric(c.blocks, prometheus.CounterValue, float64(st.BlocksFinalized))
		ch <- prometheus.MustNewConstMetric(c.produced, prometheus.CounterValue, float64(st.EventsProduced))
		ch <- prometheus.MustNewConstMetric(c.aborted, prometheus.CounterValue, float64(st.AbortedBatches))
	}
}

// histogram turns a latency snapshot into a const histogram with cumulative buckets. The
// count is the sum of the buckets (not Snapshot.Count, which a concurrent call may have
// moved on), so that the +Inf bucket is never below the last finite one.
func (c *collector) histogram(plugin string, s host.LatencySnapshot) prometheus.Metric {
	buckets := make(map[float64]uint64, len(c.bounds))
	var cum uint64
	for i, bound := range c.bounds {
		cum += s.Buckets[i]
		buckets[bound] = cum
	}
	count := cum + s.Buckets[latencyBuckets-1]
	return prometheus.MustNewConstHistogram(c.latency, count, s.Sum.Seconds(), buckets, plugin)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// causeCount is one cause's label value and count.
type causeCount struct {
	cause string
	n     uint64
}

// droppedCauses lists u's causes with the label values of slipstream_plugin_undelivered_total
// (and the keys of the admin API's counters.undelivered).
func droppedCauses(u host.Undelivered) [5]causeCount {
	return [5]causeCount{
		{"queue_full", u.QueueFull},
		{"disabled", u.Disabled},
		{"drain_timeout", u.DrainTimeout},
		{"reload_overflow", u.ReloadOverflow},
		{"failed", u.Failed},
	}
}
