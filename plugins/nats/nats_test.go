package natsplugin_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// chainEvents returns the events of heights from..to, a height's events in the order a
// store broadcasts them (mapping events, staking rewards, the Block last), with three
// programs and two mappings so that subject filters have something to select.
func chainEvents(from, to uint32) [][]abi.Event {
	var out [][]abi.Event
	for h := from; h <= to; h++ {
		var evs []abi.Event
		for i := range int(h%5) + 3 {
			prog := []byte(fmt.Sprintf("prog%d.aleo", i%3))
			mapping := []byte("account")
			if i%2 == 1 {
				mapping = []byte("bonded")
			}
			key := []byte{byte(h), byte(h >> 8), byte(i), 0x00, 0xff}
			if i%4 == 3 {
				evs = append(evs, abi.Event{Kind: abi.MappingRemoval, BlockHeight: h, ProgramID: prog, MappingName: mapping, Key: key, HasKey: i%8 == 3})
				continue
			}
			evs = append(evs, abi.Event{Kind: abi.MappingUpdate, BlockHeight: h, ProgramID: prog, MappingName: mapping, Key: key, HasKey: true, Value: []byte(strconv.Itoa(int(h) * i))})
		}
		evs = append(evs,
			abi.Event{Kind: abi.StakingReward, BlockHeight: h, Staker: []byte{1, byte(h)}, Validator: []byte{2}, Reward: uint64(h), NewStake: 1<<63 + uint64(h)},
			abi.Event{Kind: abi.Block, BlockHeight: h, Block: []byte(fmt.Sprintf("block-%d", h))})
		out = append(out, evs)
	}
	return out
}

// writeConfig writes a config of the plugin for the server at url and returns its path.
func writeConfig(t *testing.T, url, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats.json5")
	if extra != "" {
		extra = ", " + extra
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`{builtin: "nats", url: %q, ack_timeout: "1s"%s}`, url, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// replay registers a new plugin with cfg on a new manager and broadcasts the heights'
// events height by height (as a store does); it returns the first error and the plugin's
// info after the unload.
func replay(t *testing.T, cfg string, heights [][]abi.Event) (host.PluginInfo, error) {
	t.Helper()
	m := host.NewManager(host.WithLogger(zerolog.Nop()))
	if _, err := m.Register(natsplugin.New(natsplugin.Options{}), cfg); err != nil {
		t.Fatal(err)
	}
	var first error
	for _, evs := range heights {
		if err := m.BroadcastBatch(evs); err != nil && first == nil {
			first = err
		}
	}
	infos := m.Shutdown()
	return infos[0], first
}

// stored is one message read back from the stream.
type stored struct {
	subject, id, height, data string
}

// readStream reads every message of the stream on a new connection (an ordered consumer,
// as a downstream reader would).
func readStream(t *testing.T, url, filter string) []stored {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsplugin.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	c, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for pending := info.NumPending; pending > 0; {
		msgs, err := c.Fetch(int(min(pending, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			out = append(out, stored{m.Subject(), m.Headers().Get(natsplugin.HeaderMsgID), m.Headers().Get(natsplugin.HeaderHeight), string(m.Data())})
			md, _ := m.Metadata()
			pending = md.NumPending
		}
		if msgs.Error() != nil {
			t.Fatal(msgs.Error())
		}
		if n == 0 {
			t.Fatalf("no message though %d are pending", pending)
		}
	}
	return out
}

// expected is what the stream must hold for heights, in order.
func expected(heights [][]abi.Event, kinds abi.EventMask) []stored {
	var out []stored
	for _, evs := range heights {
		i := 0
		for _, ev := range evs {
			if !kinds.Has(ev.Kind) {
				continue
			}
			h := strconv.Itoa(int(ev.BlockHeight))
			out = append(out, stored{string(natsplugin.AppendSubject(nil, natsplugin.DefaultPrefix, &ev)), h + "." + strconv.Itoa(i), h, string(natsplugin.AppendJSON(nil, &ev))})
			i++
		}
	}
	return out
}

func compare(t *testing.T, got, want []stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d messages in the stream, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// Issue 17.6: a replay's every event is in the stream once, in order, with its subject,
// headers and JSON; replaying again (ResumeHeight: the stream is whole) adds nothing; a
// consumer on a second connection reads the same sequence, and a subject filter selects
// one program's mapping events.
func TestReplayIntoStream(t *testing.T) {
	srv := natstest.Start(t)
	heights := chainEvents(1, 300)
	cfg := writeConfig(t, srv.URL(), "")
	info, err := replay(t, cfg, heights)
	if err != nil || info.Counters.Errors != 0 {
		t.Fatalf("replay: %v, %d errors", err, info.Counters.Errors)
	}
	want := expected(heights, abi.MaskAll)
	compare(t, readStream(t, srv.URL(), ""), want)

	info, err = replay(t, cfg, heights)
	if err != nil || info.ResumeHeight != 301 || info.Counters.Skipped == 0 {
		t.Fatalf("second replay: %v, resume height %d (want 301), %d skipped", err, info.ResumeHeight, info.Counters.Skipped)
	}
	compare(t, readStream(t, srv.URL(), ""), want)

	prog := natsplugin.AppendHex(nil, []byte("prog1.aleo"))
	var one []stored
	for _, s := range want {
		if strings.HasPrefix(s.subject, "slipstream.mapping_") && strings.Split(s.subject, ".")[2] == string(prog) {
			one = append(one, s)
		}
	}
	compare(t, readStream(t, srv.URL(), "slipstream.*."+string(prog)+".>"), one)
}

// Issue 17.3: Nats-Msg-Id makes JetStream drop events published again within the
// duplicate window, even by a plugin that does not resume (it was never asked where to).
func TestRepublishDropped(t *testing.T) {
	srv := natstest.Start(t)
	heights := chainEvents(1, 20)
	cfg := writeConfig(t, srv.URL(), "")
	if _, err := replay(t, cfg, heights); err != nil {
		t.Fatal(err)
	}
	p := natsplugin.New(natsplugin.Options{})
	if err := p.OnLoad(cfg, false); err != nil {
		t.Fatal(err)
	}
	for _, evs := range heights[10:] {
		for _, ev := range evs {
			if err := p.OnBroadcast(ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.OnUnload()
	compare(t, readStream(t, srv.URL(), ""), expected(heights, abi.MaskAll))
}

// Issue 17.3: a crash in the middle of a height leaves part of it in the stream;
// ResumeHeight answers that height, and the events of it already stored are not published
// again (also past the duplicate window), so the stream equals an uninterrupted run — with
// and without Block events (without them the last height is never known to be whole).
func TestResumeMidHeight(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kinds string
		mask  abi.EventMask
	}{
		{"all kinds", "", abi.MaskAll},
		{"without blocks", `kinds: ["mapping_update", "MappingRemoval", "staking_reward"]`, abi.MaskOf(abi.MappingUpdate, abi.MappingRemoval, abi.StakingReward)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			heights := chainEvents(1, 30)
			cfg := writeConfig(t, srv.URL(), strings.TrimPrefix(tc.kinds+`, duplicate_window: "1s"`, ", "))
			// A crash after three events of height 11: publish them and stop.
			p := natsplugin.New(natsplugin.Options{})
			if err := p.OnLoad(cfg, false); err != nil {
				t.Fatal(err)
			}
			sent := 0
			for _, evs := range heights {
				for _, ev := range evs {
					if !tc.mask.Has(ev.Kind) {
						continue
					}
					if ev.BlockHeight == 11 && sent == 3 {
						goto crash
					}
					if err := p.OnBroadcast(ev); err != nil {
						t.Fatal(err)
					}
					if ev.BlockHeight == 11 {
						sent++
					}
				}
			}
		crash:
			p.OnUnload()                        // waits for the acknowledgements, as the server stored them
			time.Sleep(1100 * time.Millisecond) // past the duplicate window: only ResumeHeight prevents duplicates

			info, err := replay(t, cfg, heights)
			if err != nil || info.ResumeHeight != 11 {
				t.Fatalf("replay after the crash: %v, resume height %d, want 11", err, info.ResumeHeight)
			}
			compare(t, readStream(t, srv.URL(), ""), expected(heights, tc.mask))
			want := uint64(31)
			if !tc.mask.Has(abi.Block) {
				want = 30
			}
			if info, _ := replay(t, cfg, heights); info.ResumeHeight != want {
				t.Errorf("resume height after a whole run = %d, want %d", info.ResumeHeight, want)
			}
			compare(t, readStream(t, srv.URL(), ""), expected(heights, tc.mask))
		})
	}
}

// Issue 17.4 and 17.6: the server killed in the middle of a replay: OnBroadcast fails
// while it is down (error_policy halt stops the node at the first failure, as an operator
// wants for a feed that must be complete); the replay run again once the server is back on
// the same store resumes from the stream (ResumeHeight), and the stream holds every event
// once, in order.
func TestServerKilledMidReplayHalt(t *testing.T) {
	srv := natstest.Start(t)
	heights := chainEvents(1, 200)
	cfg := writeConfig(t, srv.URL(), `error_policy: "halt"`)
	m := host.NewManager(host.WithLogger(zerolog.Nop()))
	if _, err := m.Register(natsplugin.New(natsplugin.Options{}), cfg); err != nil {
		t.Fatal(err)
	}
	var haltErr error
	var atKill uint64
	for i, evs := range heights {
		if i == 120 {
			// Mid-replay: part of it stored, the rest in flight (the plugin does not wait
			// for each acknowledgement, so on a loaded machine the server may not have
			// stored anything yet; the stream would then be empty, rightly resumed from 0).
			srv.WaitStored(t, natsplugin.DefaultStream, 1)
			atKill = srv.Stored(t, natsplugin.DefaultStream)
			srv.Shutdown()
		}
		if haltErr = m.BroadcastBatch(evs); haltErr != nil {
			break
		}
	}
	m.Shutdown()
	if !errors.Is(haltErr, host.ErrHalted) || !errors.Is(haltErr, natsplugin.ErrNotStored) {
		t.Fatalf("broadcast with the server down: %v, want ErrHalted and ErrNotStored", haltErr)
	}
	srv.Restart(t)
	if got := srv.Stored(t, natsplugin.DefaultStream); got < atKill {
		t.Fatalf("the restarted server's stream holds %d messages, %d before the kill", got, atKill)
	}
	info, err := replay(t, cfg, heights)
	if err != nil || info.ResumeHeight == 0 || info.ResumeHeight > 121 {
		t.Fatalf("replay after the restart: %v, resume height %d, want 1..121 (the stream held %d messages at the kill)", err, info.ResumeHeight, atKill)
	}
	compare(t, readStream(t, srv.URL(), ""), expected(heights, abi.MaskAll))
}

// Issue 17.4: with error_policy log the replay goes on while the server is down: each
// event fails (counted), is kept, and once the client has reconnected to the restarted
// server the kept events are published again in order, so nothing is lost.
func TestServerKilledMidReplayLogRetries(t *testing.T) {
	srv := natstest.Start(t)
	heights := chainEvents(1, 200)
	cfg := writeConfig(t, srv.URL(), "")
	m := host.NewManager(host.WithLogger(zerolog.Nop()))
	if _, err := m.Register(natsplugin.New(natsplugin.Options{}), cfg); err != nil {
		t.Fatal(err)
	}
	for i, evs := range heights {
		switch i {
		case 100:
			srv.Shutdown()
		case 140:
			srv.Restart(t)
			waitConnected()
		}
		if err := m.BroadcastBatch(evs); err != nil {
			t.Fatal(err)
		}
	}
	infos := m.Shutdown()
	if infos[0].Counters.Errors == 0 {
		t.Error("no OnBroadcast failed while the server was down")
	}
	compare(t, readStream(t, srv.URL(), ""), expected(heights, abi.MaskAll))
}

// waitConnected gives the client time to reconnect (ReconnectWait is 250ms).
func waitConnected() {
	time.Sleep(1500 * time.Millisecond)
}

// Issue 17.2: config errors fail the load with ErrConfig naming the key; an unreachable
// server fails it too, and nothing is registered.
func TestConfigErrors(t *testing.T) {
	srv := natstest.Start(t)
	for _, tc := range []struct{ extra, want string }{
		{`kinds: ["blocks"]`, `unknown kind "blocks"`},
		{`kinds: []`, "kinds is empty"},
		{`max_pending: 0`, "max_pending must be a positive integer"},
		{`ack_interval: "soon"`, "ack_interval must be a positive duration"},
		{`urls: ["nats://a:1"]`, "set url or urls, not both"},
		{`bogus: 1`, `unknown key "bogus"`},
		{`prefix: "a..b"`, `prefix "a..b"`},
		{`stream: "a.b"`, `stream "a.b"`},
		{`user: "u", token: "t"`, "set one of creds"},
		{`tls_cert: "c.pem"`, "tls_cert and tls_key go together"},
		{`storage: "tape"`, `storage must be "file" or "memory"`},
	} {
		cfg := writeConfig(t, srv.URL(), tc.extra)
		m := host.NewManager(host.WithLogger(zerolog.Nop()))
		_, err := m.Register(natsplugin.New(natsplugin.Options{}), cfg)
		if !errors.Is(err, natsplugin.ErrConfig) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cfg) {
			t.Errorf("%s: %v, want ErrConfig naming the file and %q", tc.extra, err, tc.want)
		}
		if len(m.ListPlugins()) != 0 {
			t.Errorf("%s: registered", tc.extra)
		}
	}
	m := host.NewManager(host.WithLogger(zerolog.Nop()))
	_, err := m.Register(natsplugin.New(natsplugin.Options{URLs: []string{"nats://127.0.0.1:1"}}), "")
	if err == nil || !strings.Contains(err.Error(), "nats://127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
}
