// Package natsplugin is Slipstream's NATS JetStream plugin: a Go-native plugin
// (host.Plugin and host.Resumer) that publishes every event of the kinds it is configured
// for to a JetStream stream, so that any number of consumers on other machines read the
// node's changes from JetStream, with its replay and at-least-once delivery.
//
// A Go node registers it with
//
//	mgr.Register(natsplugin.New(natsplugin.Options{URLs: []string{"nats://10.0.0.5:4222"}}), "")
//
// and the slipstream command loads it from a config file with builtin: "nats" (see
// README.md in this directory for the keys, subjects, headers and the event JSON).
//
// # Delivery
//
// Publishes are asynchronous and confirmed in order as their acknowledgements arrive. At
// the end of a block (its Block event, or the first event of the next height when blocks
// are not published) the plugin takes the acknowledgements that have arrived, and waits
// for those outstanding longer than ack_interval (a live node's block is confirmed before
// the next one; a replay's pipeline stays full); it also waits once max_pending are
// outstanding, and for all of them in OnUnload. A publish that fails or is not acknowledged fails
// OnBroadcast (the host's error policy applies); the messages not confirmed are kept (up to
// max_backlog, see maxBacklog) and published again, in order, on the next event once the
// connection is back, so the stream has no gap. Message ids (Nats-Msg-Id: <height>.<index>)
// make JetStream drop what was stored already, and ResumeHeight reads the stream's tail so
// that a restart continues where the stream ends.
package natsplugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// Header names the plugin sets on every message.
const (
	HeaderHeight = "Slipstream-Height" // the event's block height, decimal
	HeaderMsgID  = jetstream.MsgIDHeader
)

// maxBacklog bounds the messages kept for publishing again after a failure (as many as
// the queue of an async plugin by default); beyond it the plugin gives up (ErrLost).
const maxBacklog = host.DefaultQueueCapacity

// Errors of OnBroadcast.
var (
	// ErrNotStored: a publish failed or was not acknowledged; the message is kept and
	// published again with the next event.
	ErrNotStored = errors.New("nats: events not stored in the stream")
	// ErrLost: more than maxBacklog messages could not be stored; the plugin stops
	// publishing until it is loaded again (reload or restart), when ResumeHeight resumes
	// from the stream's end.
	ErrLost = errors.New("nats: events lost: too many not stored")
)

var (
	_ host.Plugin  = (*Plugin)(nil)
	_ host.Resumer = (*Plugin)(nil)
)

// Plugin publishes events to NATS JetStream. Create it with New.
type Plugin struct {
	base Options // New's
	o    Options // base with the config file's keys, after OnLoad

	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	// Position: the height being published and the index of the next event in it.
	height  uint32
	index   uint32
	started bool
	// skipHeight's indices stored already (ResumeHeight found a partial last height).
	skipHeight uint32
	skip       map[uint32]bool

	backlog []pending // published (or to publish) and not yet confirmed, in order
	broken  error     // the last failure; the backlog is published again first
	lost    error     // ErrLost: nothing is published any more

	connErr atomic.Value // string: the connection's last asynchronous error (nats.go's ErrorHandler)

	buf []byte
}

// pending is a message not yet confirmed: its future (nil when not published) and when it
// was published.
type pending struct {
	msg *nats.Msg
	fut jetstream.PubAckFuture
	at  time.Time
}

// New returns the plugin; opts are the defaults the config file's keys override.
func New(opts Options) *Plugin { return &Plugin{base: opts} }

// Name returns "nats".
func (p *Plugin) Name() string { return "nats" }

// SubscribedEvents returns the configured kinds.
func (p *Plugin) SubscribedEvents() abi.EventMask { return p.o.Kinds }

// OnLoad reads the config, connects, and finds (or creates) the stream.
func (p *Plugin) OnLoad(configFile string, isReload bool) error {
	p.close()
	o, err := readConfig(p.base, configFile)
	if err != nil {
		return err
	}
	p.o = o
	p.started, p.skip, p.backlog, p.broken, p.lost = false, nil, nil, nil, nil
	opts, err := o.natsOptions()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	// nats.go writes asynchronous errors to stderr unless told otherwise: keep the last one
	// for the error OnBroadcast returns, the node's output is not the client's.
	opts = append(opts,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { p.connErr.Store(err.Error()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				p.connErr.Store(err.Error())
			}
		}))
	url := strings.Join(o.URLs, ",")
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("nats: connecting to %s: %w (is the server running and reachable?)", url, err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(o.MaxPending+1),
		jetstream.WithPublishAsyncTimeout(o.AckTimeout))
	if err != nil {
		nc.Close()
		return fmt.Errorf("nats: %w", err)
	}
	p.nc, p.js = nc, js
	ctx, cancel := context.WithTimeout(context.Background(), o.AckTimeout)
	defer cancel()
	if p.stream, err = p.ensureStream(ctx); err != nil {
		p.close()
		return err
	}
	return nil
}

// ensureStream returns the configured stream, created when missing with subjects <prefix>.>.
func (p *Plugin) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	subject := p.o.Prefix + ".>"
	s, err := p.js.Stream(ctx, p.o.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		storage := jetstream.FileStorage
		if p.o.MemoryStorage {
			storage = jetstream.MemoryStorage
		}
		s, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: p.o.Stream, Subjects: []string{subject}, Storage: storage,
			Duplicates: p.o.DuplicateWindow, Replicas: p.o.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("nats: creating stream %s (subjects %s): %w", p.o.Stream, subject, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", p.o.Stream, err)
	}
	for _, sub := range s.CachedInfo().Config.Subjects {
		if sub == subject || sub == ">" {
			return s, nil
		}
	}
	return nil, fmt.Errorf("nats: stream %s exists with subjects %v, which do not take %s: add %s to it, or set stream or prefix in the config",
		p.o.Stream, s.CachedInfo().Config.Subjects, subject, subject)
}

// ResumeHeight reads the stream's last message of this plugin's prefix: an empty stream is
// height 0; a Block event at height H is a whole height (resume at H + 1); any other event
// at H may end a partial height: resume at H, and the events of H already in the stream
// (their Nats-Msg-Id indices) are not published again.
func (p *Plugin) ResumeHeight() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.o.AckTimeout)
	defer cancel()
	last, err := p.lastStored(ctx)
	if last == nil || err != nil {
		return 0, err
	}
	h, idx, kind, err := p.position(last)
	if err != nil {
		return 0, err
	}
	if kind == abi.Block {
		return uint64(h) + 1, nil
	}
	p.skipHeight, p.skip = h, map[uint32]bool{idx: true}
	for seq := last.Sequence - 1; seq > 0; seq-- {
		m, err := p.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted, or purged below the first message
		}
		if err != nil {
			return 0, fmt.Errorf("nats: reading message %d of stream %s: %w", seq, p.o.Stream, err)
		}
		if !strings.HasPrefix(m.Subject, p.o.Prefix+".") {
			continue
		}
		mh, mi, _, err := p.position(m)
		if err != nil {
			return 0, err
		}
		if mh != h {
			break
		}
		p.skip[mi] = true
	}
	return uint64(h), nil
}

// position parses a stored message's height, index and kind.
func (p *Plugin) position(m *jetstream.RawStreamMsg) (height, index uint32, kind abi.EventKind, err error) {
	bad := func(what string) error {
		return fmt.Errorf("nats: message %d (%s) of stream %s: %s: was it published by this plugin? (another publisher on %s.> cannot be resumed from)",
			m.Sequence, m.Subject, p.o.Stream, what, p.o.Prefix)
	}
	id := m.Header.Get(HeaderMsgID)
	hs, is, ok := strings.Cut(id, ".")
	h, err1 := strconv.ParseUint(hs, 10, 32)
	i, err2 := strconv.ParseUint(is, 10, 32)
	if !ok || err1 != nil || err2 != nil || m.Header.Get(HeaderHeight) != hs {
		return 0, 0, 0, bad(fmt.Sprintf("%s %q, %s %q", HeaderMsgID, id, HeaderHeight, m.Header.Get(HeaderHeight)))
	}
	tok, _, _ := strings.Cut(strings.TrimPrefix(m.Subject, p.o.Prefix+"."), ".")
	k, ok := ParseKind(tok)
	if !ok {
		return 0, 0, 0, bad("unknown kind " + tok)
	}
	return uint32(h), uint32(i), k, nil
}

// OnBroadcast publishes one event (see the package doc for when acknowledgements are
// awaited and what a failure does).
func (p *Plugin) OnBroadcast(ev abi.Event) error {
	if p.lost != nil {
		return p.lost
	}
	if !p.started || ev.BlockHeight != p.height {
		if p.started && p.broken == nil && !p.o.Kinds.Has(abi.Block) { // the previous height ended
			if err := p.endOfBlock(); err != nil {
				return p.keep(ev, err)
			}
		}
		p.started, p.height, p.index = true, ev.BlockHeight, 0
		if p.skip != nil && ev.BlockHeight > p.skipHeight {
			p.skip = nil
		}
	}
	idx := p.index
	p.index++
	if p.skip != nil && ev.BlockHeight == p.skipHeight && p.skip[idx] {
		return nil // stored before the restart
	}
	msg := p.message(&ev, idx)
	if p.broken != nil {
		if err := p.retry(msg); err != nil {
			return err
		}
	} else {
		fut, err := p.js.PublishMsgAsync(msg)
		p.backlog = append(p.backlog, pending{msg: msg, fut: fut, at: time.Now()})
		if err != nil {
			p.backlog[len(p.backlog)-1].fut = nil
			p.broken = fmt.Errorf("%w: publishing height %d: %w", ErrNotStored, ev.BlockHeight, err)
			return p.broken
		}
	}
	if len(p.backlog) >= p.o.MaxPending {
		return p.confirm(len(p.backlog) - p.o.MaxPending/2)
	}
	if ev.Kind == abi.Block {
		return p.endOfBlock()
	}
	return nil
}

// keep adds ev's message to the backlog after a failure found before it was published.
func (p *Plugin) keep(ev abi.Event, err error) error {
	p.started, p.height, p.index = true, ev.BlockHeight, 1
	if p.skip != nil && ev.BlockHeight == p.skipHeight && p.skip[0] {
		return err
	}
	if lerr := p.add(p.message(&ev, 0)); lerr != nil {
		return lerr
	}
	return err
}

// add appends msg to the backlog of a broken plugin, or gives up when it is full.
func (p *Plugin) add(msg *nats.Msg) error {
	if len(p.backlog) >= maxBacklog {
		p.lost = fmt.Errorf("%w: %d messages from height %s on could not be stored (last error: %v); reload the plugin or restart the node to resume from the stream",
			ErrLost, len(p.backlog), p.backlog[0].msg.Header.Get(HeaderHeight), p.broken)
		p.backlog = nil
		return p.lost
	}
	p.backlog = append(p.backlog, pending{msg: msg})
	return nil
}

// endOfBlock confirms what has been acknowledged, waiting for the messages outstanding
// longer than ack_interval.
func (p *Plugin) endOfBlock() error {
	old := 0
	if len(p.backlog) > 0 && time.Since(p.backlog[0].at) >= p.o.AckInterval {
		cut := time.Now().Add(-p.o.AckInterval)
		for old < len(p.backlog) && p.backlog[old].at.Before(cut) {
			old++
		}
	}
	return p.confirm(old)
}

// message builds the event's message (a new one each time: nats.go keeps it for retries).
func (p *Plugin) message(ev *abi.Event, idx uint32) *nats.Msg {
	p.buf = AppendSubject(p.buf[:0], p.o.Prefix, ev)
	subject := string(p.buf)
	data := AppendJSON(make([]byte, 0, 96+2*ev.Size()), ev)
	h := strconv.FormatUint(uint64(ev.BlockHeight), 10)
	return &nats.Msg{Subject: subject, Data: data, Header: nats.Header{
		HeaderMsgID:  []string{h + "." + strconv.FormatUint(uint64(idx), 10)},
		HeaderHeight: []string{h},
	}}
}

// confirm removes the acknowledged messages from the front of the backlog, waiting for
// the first n of them; a failure (or no acknowledgement within twice ack_timeout) breaks
// the plugin, keeping the backlog from the failed message on.
func (p *Plugin) confirm(n int) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	done := 0
	defer func() { p.backlog = p.backlog[:copy(p.backlog, p.backlog[done:])] }()
	for done < len(p.backlog) {
		f := p.backlog[done].fut
		if f == nil { // not published (the plugin is broken): retry publishes it
			return p.broken
		}
		var err error
		if done < n {
			if timer == nil {
				timer = time.NewTimer(2 * p.o.AckTimeout)
			}
			select {
			case <-f.Ok():
			case err = <-f.Err():
			case <-timer.C:
				err = fmt.Errorf("no acknowledgement within %v", 2*p.o.AckTimeout)
			}
		} else {
			select {
			case <-f.Ok():
			case err = <-f.Err():
			default:
				return nil
			}
		}
		if err != nil {
			p.broken = fmt.Errorf("%w: %d messages from height %s on are not confirmed: %w", ErrNotStored,
				len(p.backlog)-done, p.backlog[done].msg.Header.Get(HeaderHeight), err)
			return p.broken
		}
		done++
	}
	return nil
}

// retry (plugin broken) adds msg to the backlog and, if the connection is up, publishes
// the backlog again from the first message the stream does not hold, then waits.
func (p *Plugin) retry(msg *nats.Msg) error {
	if err := p.add(msg); err != nil {
		return err
	}
	if !p.nc.IsConnected() {
		last, _ := p.connErr.Load().(string)
		if last == "" {
			last = "disconnected"
		}
		return fmt.Errorf("%w: not connected to %s (%s; reconnecting; %d messages kept): %w", ErrNotStored, strings.Join(p.o.URLs, ","), last, len(p.backlog), p.broken)
	}
	p.js.CleanupPublisher() // forget the futures of the failed publishes
	from, err := p.storedUpTo()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	p.backlog = p.backlog[from:]
	for i := range p.backlog {
		e := &p.backlog[i]
		e.msg = &nats.Msg{Subject: e.msg.Subject, Data: e.msg.Data, Header: e.msg.Header}
		fut, err := p.js.PublishMsgAsync(e.msg)
		if err != nil {
			for j := i; j < len(p.backlog); j++ {
				p.backlog[j].fut = nil
			}
			p.broken = fmt.Errorf("%w: publishing again: %w", ErrNotStored, err)
			return p.broken
		}
		e.fut, e.at = fut, time.Now()
	}
	if err := p.confirm(len(p.backlog)); err != nil {
		return err
	}
	p.broken = nil
	return nil
}

// lastStored returns the stream's last message of this plugin's prefix, nil when it holds
// none.
func (p *Plugin) lastStored(ctx context.Context) (*jetstream.RawStreamMsg, error) {
	last, err := p.stream.GetLastMsgForSubject(ctx, p.o.Prefix+".>")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nats: reading the last message of stream %s: %w", p.o.Stream, err)
	}
	return last, nil
}

// storedUpTo returns how many of the backlog's first messages the stream holds already:
// those up to the stream's last message of this prefix (the stream stores in order).
func (p *Plugin) storedUpTo() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.o.AckTimeout)
	defer cancel()
	last, err := p.lastStored(ctx)
	if last == nil || err != nil {
		return 0, err
	}
	id := last.Header.Get(HeaderMsgID)
	for i, e := range p.backlog {
		if e.msg.Header.Get(HeaderMsgID) == id {
			return i + 1, nil
		}
	}
	return 0, nil
}

// OnUnload waits for the outstanding acknowledgements (at most twice ack_timeout) and
// closes the connection.
func (p *Plugin) OnUnload() {
	if p.js != nil && p.broken == nil && len(p.backlog) > 0 {
		p.confirm(len(p.backlog))
	}
	p.close()
}

func (p *Plugin) close() {
	if p.nc != nil {
		p.nc.Close()
	}
	p.nc, p.js, p.stream = nil, nil, nil
}
