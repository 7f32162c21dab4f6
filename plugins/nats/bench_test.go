package natsplugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest/natstest"
	natsplugin "github.com/slipstream-go/slipstream/plugins/nats"
)

// benchHeight is the template of one height's events: 8 mapping updates (32-byte keys,
// 16-byte values) on two programs, a staking reward and the Block (256 bytes).
func benchHeight() []abi.Event {
	var evs []abi.Event
	for i := range 8 {
		evs = append(evs, abi.Event{Kind: abi.MappingUpdate, ProgramID: []byte("credits.aleo"[:8+i%2*4]), MappingName: []byte("account"),
			Key: make([]byte, 32), HasKey: true, Value: make([]byte, 16)})
	}
	return append(evs,
		abi.Event{Kind: abi.StakingReward, Staker: make([]byte, 32), Validator: make([]byte, 32), Reward: 17, NewStake: 1000017},
		abi.Event{Kind: abi.Block, Block: make([]byte, 256)})
}

// benchHeights returns heights 1… with at least n events, and their number.
func benchHeights(n int) ([][]abi.Event, int) {
	tmpl := benchHeight()
	var out [][]abi.Event
	total := 0
	for h := uint32(1); total < n; h++ {
		evs := make([]abi.Event, len(tmpl))
		copy(evs, tmpl)
		for i := range evs {
			evs[i].BlockHeight = h
		}
		out = append(out, evs)
		total += len(evs)
	}
	return out, total
}

// Issue 17.7: events/s through a host.Manager into the plugin with the default config and
// a local JetStream with file storage, the acknowledgements of the last one included.
// Compare with BenchmarkNatsGoAsync (the same messages): the goal is ≥ 0.7× its rate.
func BenchmarkPluginPublish(b *testing.B) {
	srv := natstest.Start(b)
	cfg := filepath.Join(b.TempDir(), "nats.json5")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{url: %q}`, srv.URL())), 0o600); err != nil {
		b.Fatal(err)
	}
	heights, total := benchHeights(b.N)
	m := host.NewManager(host.WithLogger(zerolog.Nop()))
	if _, err := m.Register(natsplugin.New(natsplugin.Options{}), cfg); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for _, evs := range heights {
		if err := m.BroadcastBatch(evs); err != nil {
			b.Fatal(err)
		}
	}
	infos := m.Shutdown() // OnUnload waits for the last acknowledgements
	elapsed := time.Since(start)
	b.StopTimer()
	if infos[0].Counters.Errors != 0 {
		b.Fatalf("%d errors", infos[0].Counters.Errors)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
}

// Issue 17.7: nats.go's own async-publish loop of the same messages (subjects, JSON,
// headers built before the clock starts), max pending as the plugin's default, waiting for
// every acknowledgement at the end: the ceiling BenchmarkPluginPublish is measured against.
func BenchmarkNatsGoAsync(b *testing.B) {
	srv := natstest.Start(b)
	heights, total := benchHeights(b.N)
	var msgs []*nats.Msg
	for _, evs := range heights {
		for i := range evs {
			h := strconv.Itoa(int(evs[i].BlockHeight))
			msgs = append(msgs, &nats.Msg{
				Subject: string(natsplugin.AppendSubject(nil, natsplugin.DefaultPrefix, &evs[i])),
				Data:    natsplugin.AppendJSON(nil, &evs[i]),
				Header:  nats.Header{natsplugin.HeaderMsgID: {h + "." + strconv.Itoa(i)}, natsplugin.HeaderHeight: {h}},
			})
		}
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(natsplugin.DefaultMaxPending))
	stall := jetstream.WithStallWait(time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natsplugin.DefaultStream, Subjects: []string{natsplugin.DefaultPrefix + ".>"},
		Storage: jetstream.FileStorage, Duplicates: natsplugin.DefaultDuplicateWindow}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m, stall); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
}
