package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// childEnv is set by the node in the environment of a plugin's child process: the two
// inherited pipe ends (read, write), as "fd,fd" (handles on Windows).
const childEnv = "SLIPSTREAM_PLUGIN_CHILD"

// ServeIsolated makes the node's own binary serve as the child process of plugins with
// isolation "process". Call it first in main: when the process was started as a plugin's
// child it loads the plugin, serves it until the node unloads it (or goes away) and exits;
// otherwise it returns at once, doing nothing.
//
//	func main() {
//		host.ServeIsolated()
//		…
//	}
//
// A node that does not call it cannot load isolated plugins: the load fails with a
// message that says so. The slipstream command calls it.
func ServeIsolated() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Unsetenv(childEnv) // not for processes the plugin starts
	os.Exit(serveChild(v))
}

// frameWriter writes whole frames to the node; log lines come from any thread.
type frameWriter struct {
	mu sync.Mutex
	f  *os.File
	e  enc
}

func (w *frameWriter) send(build func(e *enc)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	build(&w.e)
	_, err := w.f.Write(w.e.finish())
	if cap(w.e.b) > 1<<20 {
		w.e.b = nil // do not keep a huge buffer after one large frame
	}
	return err
}

// logRelay is the child's log writer: each JSON line zerolog writes becomes a log frame.
type logRelay struct{ w *frameWriter }

func (l logRelay) Write(p []byte) (int, error) {
	err := l.w.send(func(e *enc) { e.start(frameLog); e.bytes(p) })
	return len(p), err
}

// serveChild is the child's loop: load the plugin the node names, then deliver the
// batches it sends, answering each, until it says unload or closes the pipe. The exit
// code is 0 after a clean unload, 1 otherwise.
func serveChild(fds string) int {
	in, out, err := childFiles(fds)
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipstream plugin child: %v\n", err)
		return 1
	}
	ignoreStopSignals()
	w := &frameWriter{f: out}
	if w.send(func(e *enc) { e.start(frameHello) }) != nil {
		return 1
	}
	r := bufio.NewReaderSize(in, 1<<16)
	log := zerolog.New(logRelay{w}).Level(zerolog.TraceLevel)

	typ, p, buf, err := readFrame(r, nil)
	if err != nil || typ != frameInit {
		return 1
	}
	d := dec{b: p}
	isReload := d.u8() != 0
	file, js := d.str(), d.bytes()
	if d.bad {
		return 1
	}
	s, err := childLoad(file, js, isReload, log)
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) { // the node names the config and the plugin itself
			err = le.Err
		}
		w.send(func(e *enc) { e.start(frameError); e.err(err) })
		return 1
	}
	cur := s.cur.Load()
	n := cur.inst.(*native)
	if w.send(func(e *enc) {
		e.start(frameReady)
		e.u64(cur.resume)
		e.u8(boolByte(cur.hasResume))
		e.u64(uint64(cur.mask))
		e.u32(n.abiVersion)
		e.str(cur.name)
		e.str(n.libPath)
	}) != nil {
		closeInstance(n)
		return 1
	}
	arena := cabi.NewArena()
	defer arena.Free()
	var evs []abi.Event
	for {
		typ, p, buf, err = readFrame(r, buf)
		if err != nil {
			// The node went away (or broke the protocol): unload cleanly, so that the plugin
			// flushes what it has.
			closeInstance(n)
			if errors.Is(err, io.EOF) {
				return 0
			}
			return 1
		}
		switch typ {
		case frameBatch:
			d := dec{b: p}
			consecutive := d.u32()
			evs = d.events(evs)
			if d.bad {
				closeInstance(n)
				return 1
			}
			a := childPass(s, cur, evs, consecutive, arena)
			if w.send(func(e *enc) { e.start(frameAck); e.ack(&a) }) != nil {
				closeInstance(n)
				return 1
			}
			clear(evs)
		case frameUnload:
			uerr := closeInstance(n)
			w.send(func(e *enc) { e.start(frameDone); e.err(uerr) })
			return 0
		default:
			closeInstance(n)
			return 1
		}
	}
}

// childLoad parses the config the node sent (the node's parsed copy of the file, as
// strict JSON, so that both see the same settings) and loads the plugin in this process
// with the in-process loader: its library checks, on_load, subscriptions, resume height.
func childLoad(file string, js []byte, isReload bool, log zerolog.Logger) (*slot, error) {
	cfg, err := ParseConfig(file, js)
	if err != nil {
		return nil, &LoadError{Config: file, Err: err}
	}
	cfg.Isolation = IsolationNone
	m := NewManager(WithLogger(log))
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loadNative(cfg, isReload)
}

// childPass delivers one batch to the plugin through a slot of this process, with the
// node's count of consecutive failures, and returns the pass's bookkeeping for the node.
// The slot applies the plugin's error policy as in process (a disable tripping or a halt
// stops the batch); its warnings are the node's to log.
func childPass(s *slot, cur *loaded, evs []abi.Event, consecutive uint32, arena *cabi.Arena) ack {
	b := batch{evs: evs}
	b.count()
	b.encode(arena)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consecutive = int(consecutive)
	s.disabled.Store(false)
	s.halted.Store(false)
	s.pass = pass{}
	s.first = firstFailure{}
	calls0, errors0 := s.stats.callCount(), s.stats.errors.Load()
	lat0 := s.stats.latency.Snapshot()
	if len(evs) > 0 {
		cur.inst.deliver(s, &b, cur.mask)
	}
	lat := s.stats.latency.Snapshot()
	a := ack{
		calls: s.stats.callCount() - calls0, errors: s.stats.errors.Load() - errors0,
		consecutive: uint32(s.consecutive), disabled: s.disabled.Load(), halted: s.halted.Load(),
		tripped: s.pass.tripped, stop: s.pass.stop, failed: uint32(s.pass.failed), kinds: s.pass.kinds,
		delivered: s.pass.delivered, first: s.first, latSum: uint64(lat.Sum - lat0.Sum),
	}
	for i := range lat.Buckets {
		a.lat[i] = lat.Buckets[i] - lat0.Buckets[i]
	}
	return a
}

// childPipes opens the two pipe ends (read, write) that childEnv's value v names, "r,w":
// parse turns each into a descriptor or handle (false: not a valid one); what names them in
// the error.
func childPipes(v, what string, parse func(string) (uintptr, bool)) (in, out *os.File, err error) {
	parts := strings.Split(v, ",")
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%s=%q: want two %s", childEnv, v, what)
	}
	var ids [2]uintptr
	for i, p := range parts {
		id, ok := parse(p)
		if !ok {
			return nil, nil, fmt.Errorf("%s=%q: want two %s", childEnv, v, what)
		}
		ids[i] = id
	}
	return os.NewFile(ids[0], "node-to-child"), os.NewFile(ids[1], "child-to-node"), nil
}
