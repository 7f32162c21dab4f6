package host

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/journal"
)

// ErrChildProcess is the cause of a failure of an isolated plugin's child process: it
// could not be started, did not answer as a plugin child, or died more often than
// max_restarts allows.
var ErrChildProcess = errors.New("plugin child process failed")

const (
	// restartBackoffMin is the wait before the first restart of a child; each further
	// restart within the window waits twice as long, at most restartBackoffMax.
	restartBackoffMin = 50 * time.Millisecond
	restartBackoffMax = 30 * time.Second
	// helloTimeout bounds the wait for a started child's first frame (before it loads
	// anything): a binary that does not call ServeIsolated never sends it.
	helloTimeout = 10 * time.Second
	// reapTimeout bounds the wait for a child to exit once it was told to (or its input
	// closed); then it is killed.
	reapTimeout = 5 * time.Second
	// abandonPoll is how often a wait for a child looks whether the slot's drain timed out.
	abandonPoll = 100 * time.Millisecond
)

var (
	errNoAnswer  = errors.New("no answer")
	errChildGone = errors.New("child process gone")
	errAbandoned = errors.New("drain timed out")
	errStopped   = errors.New("stopped")
)

// childOptions are a manager's settings for child processes (WithIsolation, …).
type childOptions struct {
	force bool      // isolation is set for every C-ABI plugin
	iso   Isolation // the isolation then
	exe   string    // the program started as the child; "" means os.Executable()
	ctx   context.Context
}

// WithIsolation loads every C-ABI plugin of the manager with isolation iso, whatever its
// config says (its other settings hold, delivery among them: a plugin configured for
// delivery "sync" in a child process has the node wait for each of its answers).
// `slipstream check` loads plugins in a child process this way, so that a plugin that
// crashes while loading or unloading is reported (*ChildError) instead of killing it.
func WithIsolation(iso Isolation) Option {
	return func(m *Manager) { m.children.force, m.children.iso = true, iso }
}

// WithChildExecutable starts path as the child process of isolated plugins instead of the
// node's own program (os.Executable()); path must call ServeIsolated first in its main.
func WithChildExecutable(path string) Option {
	return func(m *Manager) { m.children.exe = path }
}

// WithChildContext makes a load or unload of an isolated plugin that waits for its child
// process give up when ctx ends (a command's signal context): the child is killed and the
// load or unload fails with a *ChildError whose Stopped is set.
func WithChildContext(ctx context.Context) Option {
	return func(m *Manager) { m.children.ctx = ctx }
}

// ChildError reports an isolated plugin's child process that died, hung or was stopped
// (WithChildContext) while loading or unloading the plugin. It matches ErrChildProcess
// when loading, ErrOnUnload when unloading.
type ChildError struct {
	Stage  string // "loading" or "unloading"
	Cause  string // how the child ended: "signal SIGSEGV", "exit status 3", "no answer in 30s", "stopped"
	Signal string // the fatal signal it died of ("SIGSEGV"), if any (Unix)
	// ExitCode is the child's exit status when it exited by itself (on Windows, a crash
	// is an exception code: 0xC0000005), -1 when it was killed, hung or died of a signal.
	ExitCode   int
	Hung       bool   // it did not answer within call_timeout (it was killed)
	Stopped    bool   // the manager's child context ended (it was killed)
	LastOutput string // its last line on stderr before it ended (a C++ runtime's "terminate called …")
	Err        error  // ErrChildProcess or ErrOnUnload
}

func (e *ChildError) Error() string {
	if e.Stage == "loading" {
		if e.Hung {
			return fmt.Sprintf("%v: the plugin did not load within call_timeout (%s)", e.Err, e.Cause)
		}
		return fmt.Sprintf("%v: the child process %s while loading the plugin", e.Err, e.Cause)
	}
	return fmt.Sprintf("%v: the child process %s while unloading", e.Err, e.Cause)
}

func (e *ChildError) Unwrap() error { return e.Err }

// childError describes how c ended (after end, which returned cause) at stage.
func (p *procInstance) childError(c *child, why error, cause, stage string, sentinel error) *ChildError {
	e := &ChildError{Stage: stage, Cause: cause, ExitCode: -1, LastOutput: c.lastWords(), Err: sentinel,
		Hung: errors.Is(why, errNoAnswer), Stopped: errors.Is(why, errStopped)}
	c.tailMu.Lock()
	e.Signal = c.signal
	c.tailMu.Unlock()
	if e.Stopped {
		e.Cause = "stopped"
	} else if !e.Hung && e.Signal == "" && c.cmd.ProcessState != nil {
		if strings.HasPrefix(cause, "signal ") {
			e.Signal = strings.TrimPrefix(cause, "signal ")
		} else {
			e.ExitCode = c.cmd.ProcessState.ExitCode()
		}
	}
	return e
}

// loadLibrary loads a C-ABI plugin in the node's process or, with isolation "process",
// in a child process (under m.mu).
func (m *Manager) loadLibrary(cfg *Config, isReload bool) (*slot, error) {
	iso := cfg.Isolation
	if m.children.force {
		iso = m.children.iso
	}
	if iso == IsolationProcess {
		return m.loadProcess(cfg, isReload)
	}
	return m.loadNative(cfg, isReload)
}

// isLibrary reports whether inst is a C-ABI plugin (in process or isolated).
func isLibrary(inst instance) bool {
	switch inst.(type) {
	case *native, *procInstance:
		return true
	}
	return false
}

// procInstance implements instance for a C-ABI plugin loaded in a child process (the
// node's own binary, serving through ServeIsolated). It is always delivered to by the
// slot's async worker (isolation implies delivery "async"): deliver sends the round to
// the child and waits for its answer, which carries the pass's bookkeeping. When the
// child dies or hangs, deliver restarts it (with backoff, within max_restarts per
// restart_window) and sends the round again from the new child's resume height, so that
// what the plugin stored is not repeated and what it did not is not lost.
type procInstance struct {
	cfg        *Config
	exe        string
	base       zerolog.Logger // the manager's (child log lines carry plugin=<name>)
	log        zerolog.Logger // tagged with the plugin's name
	file       os.FileInfo    // the library file's identity, for "already loaded"
	libPath    string
	abiVersion uint32
	name       string
	mask       abi.EventMask

	// Under the slot's call lock (or m.mu before the slot is published):
	c         *child
	first     uint64 // the first child's resume height (PluginInfo.ResumeHeight)
	hasResume bool   // the plugin keeps a position (the first child said so)
	resume    uint64 // the current child's
	acked     uint64 // the highest height a child acknowledged
	restarts  []time.Time
	enc       enc

	journal *journal.Journal // the manager's, if any: a restarted child is fed from it (refeed)
	stop    <-chan struct{}  // WithChildContext's: a load or unload gives up when it closes
}

// doneOf is ctx.Done(), nil (never) without a context.
func doneOf(ctx context.Context) <-chan struct{} {
	if ctx == nil {
		return nil
	}
	return ctx.Done()
}

var _ instance = (*procInstance)(nil)

// ready is what a child reports once the plugin loaded.
type ready struct {
	resume     uint64
	hasResume  bool // the plugin keeps a position: it catches up from the journal
	mask       abi.EventMask
	abiVersion uint32
	name, lib  string
}

// loadProcess starts a child process that loads the plugin cfg describes (under m.mu),
// with the checks of loadNative made here first (so that a refused library is refused
// before anything starts) and again by the child on the file it opens.
func (m *Manager) loadProcess(cfg *Config, isReload bool) (*slot, error) {
	fail := func(name string, err error) error { return &LoadError{Config: cfg.File, Plugin: name, Err: err} }
	lib := cfg.lib
	if lib != nil {
		cfg.lib = nil
	} else {
		lib = checkLibrary(cfg)
	}
	defer lib.remove()
	if lib.err != nil {
		return nil, lib.err
	}
	for _, s := range *m.slots.Load() {
		if p, ok := s.cur.Load().inst.(*procInstance); ok && !s.vacant.Load() && p.file != nil && os.SameFile(p.file, lib.info) {
			return nil, fail(cfg.Name, fmt.Errorf("%w: library %s is already loaded as plugin %q from %s (the same file, however it is reached; unload or reload that one)", ErrAlreadyLoaded, lib.real, s.name(), p.libPath))
		}
		if n, ok := s.cur.Load().inst.(*native); ok && !s.vacant.Load() && n.file != nil && os.SameFile(n.file, lib.info) {
			return nil, fail(cfg.Name, fmt.Errorf("%w: library %s is already loaded as plugin %q from %s (the same file, however it is reached; unload or reload that one)", ErrAlreadyLoaded, lib.real, s.name(), n.libPath))
		}
	}
	if cfg.Name != "" && m.find(cfg.Name) != nil {
		return nil, fail(cfg.Name, fmt.Errorf("%w: a plugin named %q is loaded (set another name in the config)", ErrAlreadyLoaded, cfg.Name))
	}
	exe, err := m.children.exe, error(nil)
	if exe == "" {
		exe, err = os.Executable()
	}
	if err != nil {
		return nil, fail(cfg.Name, fmt.Errorf("%w: cannot find the node's own program to start as the plugin's child: %v", ErrChildProcess, err))
	}
	p := &procInstance{cfg: cfg, exe: exe, journal: m.journal, stop: doneOf(m.children.ctx), base: m.log, log: m.log.With().Str("config", cfg.File).Logger(), file: lib.info}
	if cfg.Name != "" {
		p.log = m.log.With().Str("plugin", cfg.Name).Logger()
	}
	t0 := time.Now()
	c, rd, err := p.start(isReload, p.stop)
	if err != nil {
		return nil, fail(cfg.Name, err)
	}
	if s := m.find(rd.name); s != nil {
		c.end(p, nil)
		return nil, fail(rd.name, fmt.Errorf("%w: a plugin named %q is loaded (set another name with name: \"…\" in the config)", ErrAlreadyLoaded, rd.name))
	}
	p.c, p.name, p.mask, p.libPath, p.abiVersion = c, rd.name, rd.mask, rd.lib, rd.abiVersion
	p.first, p.resume, p.hasResume = rd.resume, rd.resume, rd.hasResume
	p.log = m.log.With().Str("plugin", rd.name).Logger()
	c.log.Store(&p.log)
	s := newSlot(&loaded{name: rd.name, inst: p, cfg: cfg, mask: rd.mask, resume: rd.resume, hasResume: rd.hasResume, log: p.log, loadedAt: time.Now()})
	p.log.Info().Str("library", rd.lib).Int("pid", c.cmd.Process.Pid).Dur("took", time.Since(t0)).Stringer("events", rd.mask).
		Uint64("resume_height", rd.resume).Str("error_policy", cfg.ErrorPolicy.String()).Bool("reload", isReload).
		Msg("plugin loaded in a child process (isolation process)")
	return s, nil
}

// child is one running child process and the node's ends of its pipes.
type child struct {
	cmd    *exec.Cmd
	w      *os.File // node → child
	r      *os.File // child → node
	errR   *os.File // the child's stdout and stderr
	frames chan frame
	exited chan struct{} // closed once the process is reaped

	readerDone, stderrDone chan struct{}
	log                    atomic.Pointer[zerolog.Logger] // for its output: tagged with the config, then the plugin's name
	tailMu                 sync.Mutex
	signal                 string // the fatal signal the child's runtime reported ("SIGSEGV"), if any
	last                   string // the last line the child wrote to stderr before that
}

// frame is a frame from the child other than a log line (payload owned).
type frame struct {
	typ     byte
	payload []byte
}

// start starts a child, waits for its hello, sends it the config and waits for the
// plugin to load, giving up when stop closes. On failure nothing is left running.
func (p *procInstance) start(isReload bool, stop <-chan struct{}) (_ *child, rd ready, err error) {
	var files []*os.File
	pipe := func() (r, w *os.File) {
		if err != nil {
			return nil, nil
		}
		if r, w, err = os.Pipe(); err == nil {
			files = append(files, r, w)
		}
		return r, w
	}
	toChildR, toChildW := pipe()
	fromChildR, fromChildW := pipe()
	errR, errW := pipe()
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, rd, fmt.Errorf("%w: creating pipes: %v", ErrChildProcess, err)
	}
	growPipe(toChildW)
	growPipe(fromChildW)
	cmd := exec.Command(p.exe)
	fds := passFiles(cmd, toChildR, fromChildW)
	// GOTRACEBACK=none: a fault in the plugin's code makes the child's runtime print the
	// signal in a few lines, not a goroutine dump.
	cmd.Env = append(os.Environ(), childEnv+"="+fds, "GOTRACEBACK=none")
	cmd.Stdout, cmd.Stderr = errW, errW
	err = cmd.Start()
	toChildR.Close()
	fromChildW.Close()
	errW.Close()
	if err != nil {
		toChildW.Close()
		fromChildR.Close()
		errR.Close()
		return nil, rd, fmt.Errorf("%w: starting %s: %v", ErrChildProcess, p.exe, err)
	}
	c := &child{cmd: cmd, w: toChildW, r: fromChildR, errR: errR, frames: make(chan frame, 4), exited: make(chan struct{}),
		readerDone: make(chan struct{}), stderrDone: make(chan struct{})}
	go func() { cmd.Wait(); close(c.exited) }()
	go c.read(p.base)
	c.log.Store(&p.log)
	go c.readStderr()
	defer func() {
		if err != nil {
			c.end(p, nil)
		}
	}()

	f, err := c.await(nil, helloTimeout, stop)
	if errors.Is(err, errStopped) {
		return nil, rd, p.childError(c, err, c.end(p, err), "loading", ErrChildProcess)
	}
	if err != nil || f.typ != frameHello {
		return nil, rd, fmt.Errorf("%w: %s did not answer as a plugin child within %v (%v): a Go node must call host.ServeIsolated() first in main",
			ErrChildProcess, p.exe, helloTimeout, errOr(err, "unexpected frame"))
	}
	p.enc.start(frameInit)
	p.enc.u8(boolByte(isReload))
	p.enc.str(p.cfg.File)
	p.enc.bytes(p.cfg.JSON())
	if err = c.send(p.enc.finish(), p.cfg.CallTimeout); err != nil {
		return nil, rd, fmt.Errorf("%w: sending the config to the child: %v", ErrChildProcess, err)
	}
	if f, err = c.await(nil, p.cfg.CallTimeout, stop); err != nil {
		ce := p.childError(c, err, c.end(p, err), "loading", ErrChildProcess)
		return nil, rd, ce
	}
	d := dec{b: f.payload}
	switch f.typ {
	case frameError:
		err = d.err()
		if err == nil || d.bad {
			err = errFrame
		}
		return nil, rd, err
	case frameReady:
		rd = ready{resume: d.u64(), hasResume: d.u8() != 0, mask: abi.EventMask(d.u64()).Known(), abiVersion: d.u32(), name: d.str(), lib: d.str()}
		if !d.bad {
			return c, rd, nil
		}
	}
	err = fmt.Errorf("%w: %w (type %q)", ErrChildProcess, errFrame, f.typ)
	return nil, rd, err
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// read is the reader of the child's frames: log lines are relayed at once, the rest go
// to frames, which is closed when the pipe ends.
func (c *child) read(base zerolog.Logger) {
	defer close(c.readerDone)
	defer close(c.frames)
	r := bufio.NewReaderSize(c.r, 1<<16)
	var buf []byte
	for {
		typ, p, b, err := readFrame(r, buf)
		buf = b
		if err != nil {
			return
		}
		if typ == frameLog {
			d := dec{b: p}
			relayLog(base, d.bytes())
			continue
		}
		c.frames <- frame{typ: typ, payload: bytes.Clone(p)}
	}
}

// relayLog logs a JSON line of the child's logger with the node's logger: same level,
// message and fields (plugin=<name> among them).
func relayLog(base zerolog.Logger, line []byte) {
	var fields map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if d.Decode(&fields) != nil {
		base.Warn().Bytes("line", bytes.TrimSpace(line)).Msg("plugin child process: unreadable log line")
		return
	}
	level, _ := fields["level"].(string)
	msg, _ := fields["message"].(string)
	delete(fields, "level")
	delete(fields, "message")
	delete(fields, "time")
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.NoLevel
	}
	base.WithLevel(lvl).Fields(fields).Msg(msg)
}

// readStderr relays what the child writes to stdout and stderr (the plugin's own prints)
// as warnings, up to the runtime's report of a fatal signal: its first line (the signal)
// and the plugin's last line before it (a C++ runtime's "terminate called after throwing
// …") are kept to explain the death, the runtime's dump of goroutines and registers that
// follows is counted, not logged.
func (c *child) readStderr() {
	defer close(c.stderrDone)
	sc := bufio.NewScanner(c.errR)
	sc.Buffer(make([]byte, 4096), 64<<10)
	dump := 0
	for sc.Scan() {
		line := sc.Text()
		c.tailMu.Lock()
		if c.signal == "" {
			if m := goFatalSignal.FindStringSubmatch(line); m != nil {
				c.signal = m[1]
			} else if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "fatal error:") {
				c.last = line
			}
		}
		crashed := c.signal != ""
		c.tailMu.Unlock()
		log := c.log.Load()
		if crashed {
			if dump++; dump == 1 {
				log.Warn().Str("stderr", line).Msg("plugin child process output: the Go runtime reports a fatal signal (its dump is not logged)")
			}
			continue
		}
		log.Warn().Str("stderr", line).Msg("plugin child process output")
	}
}

// send writes a frame, within timeout (a child that stopped reading counts as hung).
func (c *child) send(f []byte, timeout time.Duration) error {
	c.w.SetWriteDeadline(time.Now().Add(timeout)) // not supported everywhere: then unbounded
	_, err := c.w.Write(f)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errNoAnswer
	}
	if err != nil {
		return errChildGone
	}
	return nil
}

// await waits for the child's next frame, at most timeout; with a slot, it gives up when
// the slot's drain timed out, and when stop closes (errStopped).
func (c *child) await(s *slot, timeout time.Duration, stop <-chan struct{}) (frame, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var tick <-chan time.Time
	if s != nil {
		t := time.NewTicker(abandonPoll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return frame{}, errChildGone
			}
			return f, nil
		case <-timer.C:
			return frame{}, errNoAnswer
		case <-stop:
			return frame{}, errStopped
		case <-tick:
			if s.abandon.Load() {
				return frame{}, errAbandoned
			}
		}
	}
}

// goFatalSignal matches the Go runtime's report of a fatal signal in the child (a fault
// in the plugin's C code: "SIGSEGV: segmentation violation", "[signal SIGSEGV: …]"),
// after which the runtime exits with status 2.
var goFatalSignal = regexp.MustCompile(`^(?:\[signal )?(SIG[A-Z0-9]+): `)

// end stops the child and reaps it, and returns how it ended: why is the error that
// made the node give up on it (errNoAnswer: it is killed), nil for an orderly end (its
// input is closed and it exits by itself, or is killed after reapTimeout). Every pipe is
// closed and every goroutine of the child has returned when end returns.
func (c *child) end(p *procInstance, why error) string {
	if errors.Is(why, errNoAnswer) || errors.Is(why, errAbandoned) || errors.Is(why, errStopped) {
		c.cmd.Process.Kill()
	}
	c.w.Close() // a child waiting for input sees the end and unloads
	select {
	case <-c.exited:
	case <-time.After(reapTimeout):
		c.cmd.Process.Kill()
		<-c.exited
	}
	// The pipes end with the process, unless something it started still holds them.
	for _, x := range []struct {
		done chan struct{}
		f    *os.File
	}{{c.readerDone, c.r}, {c.stderrDone, c.errR}} {
		select {
		case <-x.done:
		case <-time.After(time.Second):
		}
		x.f.Close()
		<-x.done
	}
	if errors.Is(why, errNoAnswer) {
		return fmt.Sprintf("no answer in %v", p.cfg.CallTimeout)
	}
	cause := exitCause(c.cmd.ProcessState)
	c.tailMu.Lock()
	defer c.tailMu.Unlock()
	if c.signal != "" {
		cause = "signal " + c.signal
	}
	return cause
}

// lastWords returns the child's last line on stderr before the runtime's report of a
// fatal signal, or its last line (for a C++ exception: "terminate called after throwing
// …"; else the plugin's own last message).
func (c *child) lastWords() string {
	c.tailMu.Lock()
	defer c.tailMu.Unlock()
	return strings.TrimSpace(c.last)
}

func (p *procInstance) encoded() bool { return false }

// deliver sends the subscribed events of b to the child and applies its answer to the
// slot; when the child dies or hangs it restarts it and sends again what the new child
// has not stored (at or above its resume height).
func (p *procInstance) deliver(s *slot, b *batch, mask abi.EventMask) {
	lo := p.resume // what was below it when the round arrived is counted as skipped once
	retry := false
	for {
		if p.c == nil {
			s.pass.stop = causeFailed
			return
		}
		n, kinds, top := p.encodeBatch(s, b, mask, lo, retry)
		if n == 0 {
			return
		}
		a, err := p.call(s, p.c, p.enc.finish())
		if err == nil {
			p.apply(s, &a)
			p.acked = max(p.acked, top)
			return
		}
		for {
			if !p.died(s, err, kinds, n) {
				return
			}
			// The new child may resume below this round (the plugin had not stored what
			// it acknowledged): with a journal, what lies between comes from there.
			if err = p.refeed(s, b, mask); err == nil {
				break
			}
		}
		retry = true
	}
}

// died ends the current child after err and restarts it (restart); false: the round is
// given up (the drain timed out, or the plugin is failed).
func (p *procInstance) died(s *slot, err error, kinds abi.EventMask, n int) bool {
	c := p.c
	p.c = nil
	cause := c.end(p, err)
	if errors.Is(err, errAbandoned) {
		s.pass.stop = causeDrainTimeout
		return false
	}
	return p.restart(s, c, cause, kinds, n)
}

// refeed sends a restarted child, from the journal, the events from its resume height up
// to the lowest height of the round b: the plugin lost them (it had acknowledged them, and
// the node holds them no more in memory). They were counted as delivered when first
// acknowledged; the child's bookkeeping of these passes is not counted again, only a
// child that dies or hangs meanwhile (the error: it is restarted again). Heights older than
// the journal's window are counted as gap heights. Without a journal, or for a plugin that
// keeps no position, there is nothing to do.
func (p *procInstance) refeed(s *slot, b *batch, mask abi.EventMask) error {
	if p.journal == nil || !p.hasResume || p.resume >= p.acked {
		return nil
	}
	low := uint64(math.MaxUint64)
	evs := b.events()
	for i := range evs {
		if mask.Has(evs[i].Kind) {
			low = min(low, uint64(evs[i].BlockHeight))
		}
	}
	if p.resume >= low || p.resume > math.MaxUint32 {
		return nil
	}
	if w := p.journal.Window(); !w.Empty && p.resume < uint64(w.First) {
		last := min(uint64(w.First)-1, low-1)
		s.stats.gapHeights.Add(last - p.resume + 1)
		p.log.Warn().Uint64("first_missing", p.resume).Uint64("last_missing", last).
			Msg("journal gap: the restarted plugin resumes below the journal's window; these heights cannot be fed again (counted in gap_heights)")
	}
	r := p.journal.Reader(uint32(p.resume))
	defer r.Close()
	fed := 0
	for {
		rec, err := r.Next()
		var gap *journal.GapError
		if errors.As(err, &gap) {
			continue
		}
		if err != nil || uint64(rec.Height) >= low {
			break // the end (io.EOF), or a journal that cannot be read: what it has is fed
		}
		rb := batch{evs: rec.Events}
		n, _, _ := p.encodeBatch(s, &rb, mask, 0, true)
		if n == 0 {
			continue
		}
		a, err := p.call(s, p.c, p.enc.finish())
		if err != nil {
			return err
		}
		if a.failed > 0 {
			p.log.Warn().Uint32("height", rec.Height).Str("callback", a.first.callback).Str("error", a.first.msg).
				Msg("the restarted plugin failed on an event fed again from the journal")
		}
		fed += n
	}
	if fed > 0 {
		p.log.Info().Uint64("resume_height", p.resume).Uint64("round_height", low).Int("events", fed).
			Msg("fed the restarted plugin from the journal up to the round it died in")
	}
	return nil
}

// encodeBatch encodes the events of b that the current child must get into p.enc and
// returns their number, kinds and highest height. Events below the child's resume
// height are not sent: on the first try they are counted as skipped (the plugin had
// them), on a retry after a restart those at or above lo as delivered (the dead child
// handed them to the plugin, which stored them).
func (p *procInstance) encodeBatch(s *slot, b *batch, mask abi.EventMask, lo uint64, retry bool) (n int, kinds abi.EventMask, top uint64) {
	p.enc.start(frameBatch)
	p.enc.u32(uint32(s.consecutive))
	at := len(p.enc.b)
	p.enc.u32(0)
	var skipped uint64
	evs := b.events()
	for i := range evs {
		e := &evs[i]
		if !mask.Has(e.Kind) {
			continue
		}
		if h := uint64(e.BlockHeight); h < p.resume {
			switch {
			case !retry:
				skipped++
			case h >= lo:
				s.delivered(e.Kind)
			}
			continue
		}
		p.enc.event(e)
		n++
		kinds |= abi.Mask(e.Kind)
		top = max(top, uint64(e.BlockHeight))
	}
	s.stats.skipped.Add(skipped)
	binary.LittleEndian.PutUint32(p.enc.b[at:], uint32(n))
	return n, kinds, top
}

// call sends one batch frame and waits for the child's ack.
func (p *procInstance) call(s *slot, c *child, f []byte) (ack, error) {
	if err := c.send(f, p.cfg.CallTimeout); err != nil {
		return ack{}, err
	}
	fr, err := c.await(s, p.cfg.CallTimeout, nil)
	if err != nil {
		return ack{}, err
	}
	d := dec{b: fr.payload}
	if fr.typ != frameAck {
		return ack{}, errFrame
	}
	a := d.ack()
	if d.bad {
		return ack{}, errFrame
	}
	if cap(p.enc.b) > 4<<20 {
		p.enc.b = nil // do not keep a huge buffer after one large round
	}
	return a, nil
}

// apply puts the child's pass bookkeeping into the slot, as if the plugin had been called
// here.
func (p *procInstance) apply(s *slot, a *ack) {
	for k, n := range a.delivered {
		s.pass.delivered[k] += n
	}
	if a.stop != causeNone {
		s.pass.stop = a.stop
	}
	if a.failed > 0 {
		if s.pass.failed == 0 {
			s.first = a.first
		}
		s.pass.failed += int(a.failed)
		s.pass.kinds |= a.kinds
	}
	s.pass.tripped = s.pass.tripped || a.tripped
	s.stats.calls.Add(a.calls)
	s.stats.errors.Add(a.errors)
	s.consecutive = int(a.consecutive)
	if a.disabled {
		s.disabled.Store(true)
	}
	if a.halted {
		s.halted.Store(true)
	}
	l := &s.stats.latency
	for i, c := range a.lat {
		if c != 0 {
			l.buckets[i].Add(c)
			l.count.Add(c)
		}
	}
	l.sumNs.Add(a.latSum)
}

// restart logs the dead child c, and starts a new one with backoff, as often as
// max_restarts within restart_window allows (a child that cannot load the plugin counts
// as another death). It returns false when the plugin is failed instead: the round's n
// events of the given kinds count as one failed call, the error policy reports it, and
// the plugin gets nothing more.
func (p *procInstance) restart(s *slot, c *child, cause string, kinds abi.EventMask, n int) bool {
	for {
		now := time.Now()
		keep := p.restarts[:0]
		for _, t := range p.restarts {
			if now.Sub(t) < p.cfg.RestartWindow {
				keep = append(keep, t)
			}
		}
		p.restarts = keep
		e := p.log.Error().Str("cause", cause).Uint64("last_acked_height", p.acked)
		if c != nil {
			if w := c.lastWords(); w != "" {
				e = e.Str("last_output", w)
			}
		}
		if len(p.restarts) >= p.cfg.MaxRestarts {
			e.Int("max_restarts", p.cfg.MaxRestarts).Dur("restart_window", p.cfg.RestartWindow).
				Msg("plugin child process died too often: the plugin is failed")
			err := fmt.Errorf("%w: %s (last acknowledged height %d; %d restarts within restart_window %v, max_restarts %d): the plugin is failed",
				ErrChildProcess, cause, p.acked, len(p.restarts), p.cfg.RestartWindow, p.cfg.MaxRestarts)
			s.failure("child process", 0, err.Error(), err, kinds, n)
			s.halted.Store(true)
			s.pass.stop = causeFailed
			return false
		}
		p.restarts = append(p.restarts, now)
		s.stats.restarts.Add(1)
		s.stats.restartCause.Store(&cause)
		backoff := min(restartBackoffMin<<(len(p.restarts)-1), restartBackoffMax)
		e.Int("restart", len(p.restarts)).Dur("backoff", backoff).Msg("plugin child process died; restarting it")
		if !sleepUnlessAbandoned(s, backoff) {
			s.pass.stop = causeDrainTimeout
			return false
		}
		t0 := time.Now()
		nc, rd, err := p.start(false, nil) // a restart is not stopped by WithChildContext
		if err != nil {
			cause, c = "restart failed: "+err.Error(), nil
			continue
		}
		if rd.resume < p.acked && (p.journal == nil || !p.hasResume) {
			p.log.Warn().Uint64("resume_height", rd.resume).Uint64("last_acked_height", p.acked).
				Msg("the restarted plugin resumes below what it acknowledged: the host no longer holds those events")
		}
		p.c, p.resume = nc, rd.resume
		p.log.Info().Int("pid", nc.cmd.Process.Pid).Uint64("resume_height", rd.resume).Dur("took", time.Since(t0)).
			Dur("since_death", time.Since(now)).Msg("plugin child process restarted; resuming")
		return true
	}
}

// sleepUnlessAbandoned waits d, or less when the slot's drain times out (false).
func sleepUnlessAbandoned(s *slot, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if s.abandon.Load() {
			return false
		}
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		time.Sleep(min(left, abandonPoll))
	}
}

// resumeHeight is the first child's resume height, and whether the plugin keeps a position
// (it has resume_height): then it catches up from the journal as in process, the catch-up
// delivering through deliver. Each child skips what lies below its own resume height.
func (p *procInstance) resumeHeight() (uint64, bool, error) { return p.first, p.hasResume, nil }

// unload tells the child to unload the plugin (on_unload, destroy, close) and returns
// what went wrong there; a child that dies or hangs meanwhile is reaped here.
func (p *procInstance) unload() error {
	c := p.c
	if c == nil {
		return nil
	}
	p.enc.start(frameUnload)
	err := c.send(p.enc.finish(), p.cfg.CallTimeout)
	var f frame
	if err == nil {
		f, err = c.await(nil, p.cfg.CallTimeout, p.stop)
	}
	if err == nil && f.typ == frameDone {
		d := dec{b: f.payload}
		return d.err()
	}
	p.c = nil
	if err == nil {
		err = errFrame
	}
	return p.childError(c, err, c.end(p, err), "unloading", ErrOnUnload)
}

// close reaps the child (it exits once unloaded; else its input closes, which unloads it).
func (p *procInstance) close() error {
	if p.c != nil {
		p.c.end(p, nil)
		p.c = nil
	}
	return nil
}

func (p *procInstance) describe(pi *PluginInfo) {
	pi.Native, pi.Path, pi.ABIVersion = true, p.libPath, p.abiVersion
	pi.Isolation = IsolationProcess // also when WithIsolation forced it
}

func (p *procInstance) reopen(m *Manager, cfg *Config) (*slot, error) {
	return m.loadLibrary(cfg, true)
}

// ignoreStopSignals is called in a child: the terminal's Ctrl-C (and a service manager's
// SIGTERM) reaches the whole process group, but the node decides when the plugin unloads.
func ignoreStopSignals() { signal.Ignore(os.Interrupt, syscall.SIGTERM) }
