// Package host is the Slipstream plugin manager: it loads plugin libraries built against
// include/slipstream.h (without cgo, through purego), keeps their lifecycle, and delivers
// the node's events to them.
//
// A node creates one Manager, loads plugins from their config files, and hands the
// manager to its finalize.Store, which calls Broadcast/BroadcastBatch:
//
//	m, err := host.FromConfigFiles([]string{"history.json5"}, host.WithLogger(log))
//	if err != nil { … }
//	defer m.Unload()
//	store.SetSlipstreamPluginManager(m)
//
// # Threading
//
// Every method is safe for concurrent use. Loading, unloading and reloading are serialized
// with each other; Broadcast reads a copy-on-write list of plugins and takes no lock shared
// with them, only each plugin's own call lock (so one plugin is never called concurrently,
// and an unload waits for the call in progress).
package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/hostlink"
	"github.com/slipstream-go/slipstream/internal/journal"
)

// Manager loads plugins and delivers events to them. The zero value is not usable; create
// one with NewManager or FromConfigFiles.
type Manager struct {
	log zerolog.Logger

	mu     sync.Mutex // serializes LoadPlugin, UnloadPlugin, ReloadPlugin, Register, Unload
	closed bool

	slots atomic.Pointer[[]*slot] // copy-on-write, in load order
	mask  atomic.Uint64           // union of the active slots' subscriptions

	spare  atomic.Pointer[pooledArena] // the last arena put back: one swap, no pool, on the hot path
	arenas sync.Pool                   // *pooledArena, when spare is taken (concurrent broadcasts)

	// The journal (journal.go); nil without WithJournal.
	journal  *journal.Journal
	jdir     string
	jopts    journal.Options
	jerr     error      // opening it failed: loads fail with it
	jmu      sync.Mutex // serializes journaled broadcasts: append, then deliver
	jfailed  atomic.Bool
	builtins map[string]func() Plugin // WithBuiltin's, before the package's (builtin.go)
	children childOptions             // WithIsolation, WithChildExecutable, WithChildContext
}

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger for the manager and its plugins (each plugin's lines carry
// plugin=<name>). The default is zerolog's global logger (github.com/rs/zerolog/log.Logger,
// which writes to stderr), so that plugin failures and host->log lines are not lost;
// pass zerolog.Nop() to discard them.
func WithLogger(l zerolog.Logger) Option { return func(m *Manager) { m.log = l } }

// NewManager returns a manager without plugins.
func NewManager(opts ...Option) *Manager {
	m := &Manager{log: zlog.Logger}
	for _, o := range opts {
		o(m)
	}
	m.openJournal()
	empty := []*slot{}
	m.slots.Store(&empty)
	m.publish(empty)
	m.arenas.New = func() any { return newPooledArena() }
	return m
}

// FromConfigFiles returns a manager with a plugin loaded from each config file, in order.
// If one fails, those already loaded are unloaded and the error returned.
func FromConfigFiles(paths []string, opts ...Option) (*Manager, error) {
	m := NewManager(opts...)
	for _, p := range paths {
		if _, err := m.LoadPlugin(p); err != nil {
			m.Unload()
			return nil, err
		}
	}
	return m, nil
}

// pooledArena owns an arena for the pool; when the pool drops it and the collector frees
// it, a cleanup releases the arena's memory (which is outside the Go heap).
type pooledArena struct{ a *cabi.Arena }

// getArena returns an arena for one broadcast's encoding; putArena gives it back. The
// common case (broadcasts from one goroutine) costs one atomic swap each way.
func (m *Manager) getArena() *pooledArena {
	if p := m.spare.Swap(nil); p != nil {
		return p
	}
	return m.arenas.Get().(*pooledArena)
}

func (m *Manager) putArena(p *pooledArena) {
	if !m.spare.CompareAndSwap(nil, p) {
		m.arenas.Put(p)
	}
}

func newPooledArena() *pooledArena {
	p := &pooledArena{a: cabi.NewArena()}
	runtime.AddCleanup(p, func(a *cabi.Arena) { a.Free() }, p.a)
	return p
}

// HasSubscribers reports whether any loaded plugin subscribes to kind. It is one atomic
// load: a node calls it before building an event, so that kinds nobody wants cost nothing.
// With a journal (WithJournal) it is true for every kind: the journal keeps them all.
func (m *Manager) HasSubscribers(kind abi.EventKind) bool {
	return m.mask.Load()&(1<<kind) != 0
}

// Subscriptions returns the union of the loaded plugins' subscriptions.
func (m *Manager) Subscriptions() abi.EventMask {
	var mask abi.EventMask
	for _, s := range *m.slots.Load() {
		mask |= s.cur.Load().mask
	}
	return mask
}

// Broadcast delivers one event to every plugin subscribed to its kind, in load order.
//
// Plugin errors are logged and counted, never returned, except for plugins whose
// error_policy is "halt": then the error (a *CallbackError matching ErrHalted) is returned
// after every plugin got the event.
//
// # Memory
//
// The event's byte slices are read during the call only; plugins get copies (outside the
// Go heap: one in the first C plugin's own buffer, one shared by the others; an owned copy
// per async plugin). The host allocates nothing for it.
func (m *Manager) Broadcast(ev abi.Event) error {
	if m.mask.Load()&(1<<ev.Kind) == 0 {
		return nil
	}
	if m.journal == nil {
		return m.broadcastOne(&ev) // single.go
	}
	b := oneBatch(&ev)
	return m.broadcast(&b)
}

// BroadcastBatch delivers events, in order, to every plugin subscribed to their kinds:
// a plugin with on_broadcast_batch receives its share in one call. Errors as Broadcast.
func (m *Manager) BroadcastBatch(evs []abi.Event) error {
	sub := abi.EventMask(m.mask.Load())
	if sub == 0 || len(evs) == 0 {
		return nil
	}
	b := batch{evs: evs}
	b.count()
	if b.present&sub == 0 {
		return nil
	}
	return m.broadcast(&b)
}

func init() {
	hostlink.Arena = func(m any) func(*cabi.Arena) error { return m.(*Manager).broadcastArena }
}

// broadcastArena is BroadcastBatch of events already encoded in a (finalize's held batch,
// through internal/hostlink): C plugins read a itself, the Go view is decoded only for the
// instances, queues and journal that need one.
func (m *Manager) broadcastArena(a *cabi.Arena) error {
	sub := abi.EventMask(m.mask.Load())
	if sub == 0 || a.Len() == 0 {
		return nil
	}
	var b batch
	b.countEncoded(a)
	if b.present&sub == 0 {
		return nil
	}
	return m.broadcast(&b)
}

func (m *Manager) broadcast(b *batch) error {
	if m.journal != nil {
		return m.broadcastJournaled(b)
	}
	var (
		pa   *pooledArena
		halt error
	)
	for _, s := range *m.slots.Load() {
		cur := s.cur.Load()
		if cur.mask&b.present == 0 {
			continue
		}
		if q := s.async.Load(); q != nil && q.enqueue(s, cur.mask, b.events()) {
			continue
		}
		if b.arena == nil && cur.inst.encoded() {
			pa = m.getArena()
			b.encode(pa.a)
		}
		if err := s.deliver(b, false); err != nil && halt == nil {
			halt = err
		}
	}
	if pa != nil {
		m.putArena(pa)
	}
	return halt
}

// LoadPlugin loads the plugin a config file describes and returns its name. On any
// failure the manager is exactly as before (the instance destroyed, the library closed)
// and the error is a *LoadError naming the config file.
func (m *Manager) LoadPlugin(configPath string) (string, error) {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return "", err
	}
	if cfg.Builtin != "" {
		return m.loadBuiltin(cfg)
	}
	// Every file is read and checked before the lock: nothing that can block on a file
	// runs under m.mu.
	if err := cfg.prepareLib(); err != nil {
		return "", err
	}
	defer cfg.releaseLib()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.jerr != nil {
		return "", &LoadError{Config: cfg.File, Err: cmp.Or(m.jerr, ErrClosed)}
	}
	s, err := m.loadLibrary(cfg, false)
	if err != nil {
		return "", err
	}
	m.add(s)
	return s.name(), nil
}

// loadNative runs the load sequence of docs/ABI.md for cfg (under m.mu): checks, dlopen,
// version, create, name, on_load, subscriptions. It does not publish the slot. The
// library's files were checked by cfg.prepareLib before the lock (if not, they are
// checked here).
func (m *Manager) loadNative(cfg *Config, isReload bool) (*slot, error) {
	fail := func(name string, err error) error { return &LoadError{Config: cfg.File, Plugin: name, Err: err} }

	lib := cfg.lib
	if lib != nil {
		cfg.lib = nil // consumed: another load of cfg checks the files again
	} else {
		lib = checkLibrary(cfg)
	}
	defer lib.remove()
	if lib.err != nil {
		return nil, lib.err
	}
	real := lib.real
	for _, s := range *m.slots.Load() {
		if n, ok := s.cur.Load().inst.(*native); ok && !s.vacant.Load() && n.file != nil && os.SameFile(n.file, lib.info) {
			return nil, fail(cfg.Name, fmt.Errorf("%w: library %s is already loaded as plugin %q from %s (the same file, however it is reached; unload or reload that one)", ErrAlreadyLoaded, real, s.name(), n.libPath))
		}
	}
	if cfg.Name != "" {
		if s := m.find(cfg.Name); s != nil {
			return nil, fail(cfg.Name, fmt.Errorf("%w: a plugin named %q is loaded (set another name in the config)", ErrAlreadyLoaded, cfg.Name))
		}
	}
	openPath, release := lib.openPath, lib.remove
	n, err := openNative(real, openPath)
	release()
	if err != nil {
		return nil, fail(cfg.Name, err)
	}
	n.file = lib.info
	name := n.ownName
	if cfg.Name != "" {
		name = cfg.Name
	}
	if err := checkName(name); err != nil {
		n.close()
		return nil, fail("", fmt.Errorf("%w: %s: name(): %w", ErrInvalidPlugin, real, err))
	}
	if s := m.find(name); s != nil {
		n.close()
		return nil, fail(name, fmt.Errorf("%w: a plugin named %q is loaded (set another name with name: \"…\" in the config)", ErrAlreadyLoaded, name))
	}
	log := m.log.With().Str("plugin", name).Logger()
	cfg.warnSuspicious(log)
	mask, err := n.load(cfg, log, isReload)
	var (
		resume    uint64
		hasResume bool
	)
	if err == nil {
		if resume, hasResume, err = n.resumeHeight(); err != nil {
			n.unload() // docs/ABI.md: on_unload (on_load had succeeded), then destroy and close
		}
	}
	if err != nil {
		if cerr := n.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fail(name, err)
	}
	s := newSlot(&loaded{name: name, inst: n, cfg: cfg, mask: mask, resume: resume, hasResume: hasResume, log: log, loadedAt: time.Now()})
	log.Info().Str("library", real).Str("abi", abi.VersionString(n.abiVersion)).Stringer("events", mask).Uint64("resume_height", resume).
		Str("delivery", cfg.Delivery.String()).Str("error_policy", cfg.ErrorPolicy.String()).Bool("reload", isReload).
		Msg("plugin loaded")
	return s, nil
}

// Register adds a Go-native plugin. configPath may be "" (no config); if set, the file is
// parsed as a plugin config (libpath not needed) for its name override and host settings,
// and passed to OnLoad. The same rules as LoadPlugin apply: a name clash or a failing
// OnLoad leaves the manager unchanged.
func (m *Manager) Register(p Plugin, configPath string) (string, error) {
	if p == nil {
		panic("host: Register(nil)")
	}
	cfg := &Config{ErrorPolicy: PolicyLog, MaxConsecutiveErrors: DefaultMaxConsecutiveErrors,
		QueueCapacity: DefaultQueueCapacity, DrainTimeout: DefaultDrainTimeout}
	if configPath != "" {
		var err error
		if cfg, err = readConfig(configPath); err != nil { // before the lock, as LoadPlugin
			return "", err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.jerr != nil {
		return "", &LoadError{Config: cfg.File, Err: cmp.Or(m.jerr, ErrClosed)}
	}
	s, err := m.loadGo(p, cfg, false)
	if err != nil {
		return "", err
	}
	m.add(s)
	return s.name(), nil
}

func (m *Manager) loadGo(p Plugin, cfg *Config, isReload bool) (s *slot, err error) {
	name := p.Name()
	if cfg.Name != "" {
		name = cfg.Name
	}
	fail := func(err error) error { return &LoadError{Config: cfg.File, Plugin: name, Err: err} }
	if err := checkName(name); err != nil {
		if name == p.Name() {
			err = fmt.Errorf("Name(): %w", err)
		}
		return nil, &LoadError{Config: cfg.File, Err: fmt.Errorf("%w: %w", ErrInvalidPlugin, err)}
	}
	if m.find(name) != nil {
		return nil, fail(fmt.Errorf("%w: a plugin named %q is loaded", ErrAlreadyLoaded, name))
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fail(fmt.Errorf("%w: panic: %v", ErrOnLoad, r))
		}
	}()
	if err := p.OnLoad(cfg.File, isReload); err != nil {
		return nil, fail(fmt.Errorf("%w: %w", ErrOnLoad, err))
	}
	log := m.log.With().Str("plugin", name).Logger()
	cfg.warnSuspicious(log)
	mask := p.SubscribedEvents().Known()
	inst := goInstance{p}
	resume, hasResume, err := inst.resumeHeight()
	if err != nil {
		if uerr := inst.unload(); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return nil, fail(err)
	}
	s = newSlot(&loaded{name: name, inst: inst, cfg: cfg, mask: mask, resume: resume, hasResume: hasResume, log: log, loadedAt: time.Now()})
	log.Info().Stringer("events", mask).Uint64("resume_height", resume).Bool("reload", isReload).Msg("Go plugin registered")
	return s, nil
}

// find returns the slot named name (under m.mu), or nil. A slot whose instance is being
// replaced by a reload does not count: the name is free for its new instance.
func (m *Manager) find(name string) *slot {
	for _, s := range *m.slots.Load() {
		if !s.vacant.Load() && s.name() == name {
			return s
		}
	}
	return nil
}

// add publishes a loaded slot (under m.mu), starting its async worker if it has one and
// its catch-up from the journal if it keeps a position.
func (m *Manager) add(s *slot) {
	cur := s.cur.Load()
	if cur.cfg.Delivery == DeliveryAsync {
		s.async.Store(newAsyncQueue(s, cur))
	}
	m.startCatchUp(s, cur)
	old := *m.slots.Load()
	next := make([]*slot, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	m.publish(next)
}

// remove unpublishes a slot (under m.mu); calls already under way finish.
func (m *Manager) remove(s *slot) {
	old := *m.slots.Load()
	next := make([]*slot, 0, len(old))
	for _, o := range old {
		if o != s {
			next = append(next, o)
		}
	}
	m.publish(next)
}

func (m *Manager) publish(next []*slot) {
	var mask abi.EventMask
	for _, s := range next {
		mask |= s.cur.Load().mask
	}
	if m.journal != nil {
		mask = abi.MaskAll // the journal keeps every kind
	}
	m.slots.Store(&next)
	m.mask.Store(uint64(mask))
}

// UnloadPlugin unloads the named plugin: new broadcasts stop reaching it, the call in
// progress (if any) finishes, its async queue drains, then on_unload, destroy, and the
// library is closed. It returns a *LoadError matching ErrNotLoaded for an unknown name.
func (m *Manager) UnloadPlugin(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.find(name)
	if s == nil {
		return &LoadError{Plugin: name, Err: fmt.Errorf("%w (loaded: %v)", ErrNotLoaded, m.ListPlugins())}
	}
	return m.unloadSlot(s)
}

func (m *Manager) unloadSlot(s *slot) error {
	m.remove(s)
	err := s.shutdown()
	cur := s.cur.Load()
	cur.log.Info().Msg("plugin unloaded")
	if err != nil {
		return &LoadError{Config: cur.cfg.File, Plugin: cur.name, Err: err}
	}
	return nil
}

// ReloadPlugin unloads the named plugin and loads it again from configPath ("" means its
// current config file), calling on_load with is_reload set. If the new config cannot be
// read the old plugin is left untouched; if the new plugin fails to load, the old config is
// loaded again and the new error returned. Go-native plugins are reloaded with OnLoad(…, true).
//
// The reload is gapless: events broadcast meanwhile reach the new instance (or the restored
// old one) exactly once and in order, held in a buffer of queue_capacity events that
// follows the plugin's on_full (block: the broadcaster waits for the reload; drop: counted
// as Counters.Undelivered.ReloadOverflow); an async queue first drains into the old
// instance. The plugin keeps its place in the plugin order and its counters, and
// Counters.Reloads counts the reload; the error policy's state (disabled, failed) is cleared.
func (m *Manager) ReloadPlugin(name, configPath string) error {
	// Read and check every file before the lock (nothing that can block on a file runs
	// under m.mu): the new config and library, and the old library for a restore.
	pre := m.find(name)
	if pre == nil {
		return &LoadError{Plugin: name, Err: fmt.Errorf("%w (loaded: %v)", ErrNotLoaded, m.ListPlugins())}
	}
	preCur := pre.cur.Load()
	isLibrary := isLibrary(preCur.inst)
	if configPath == "" {
		configPath = preCur.cfg.File
	}
	var (
		cfg *Config
		err error
	)
	switch {
	case isLibrary:
		cfg, err = LoadConfig(configPath)
	case configPath != "":
		cfg, err = readConfig(configPath)
	default:
		cfg = preCur.cfg
	}
	if err != nil {
		return err
	}
	restore := preCur.cfg
	if isLibrary {
		if err := cfg.prepareLib(); err != nil {
			return err // the old plugin is untouched
		}
		defer cfg.releaseLib()
		c := *preCur.cfg
		restore = &c
		restore.prepareLib() // a failure is kept for loadNative to return
		defer restore.releaseLib()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.find(name)
	if s == nil {
		return &LoadError{Plugin: name, Err: fmt.Errorf("%w (loaded: %v)", ErrNotLoaded, m.ListPlugins())}
	}
	if cur := s.cur.Load(); cur != preCur { // reloaded meanwhile: restore what is loaded now (checked under the lock)
		restore = cur.cfg
	}
	return m.reloadSlot(s, s.cur.Load(), cfg, restore)
}

// reloadSlot replaces the instance in s without a gap (see reload.go), under m.mu: the
// old instance unloads, and the plugin loads from cfg, or from restore (the old config)
// if that fails.
func (m *Manager) reloadSlot(s *slot, old *loaded, cfg, restore *Config) error {
	name := old.name
	s.stopCatchUp()
	s.catching.Store(false) // what is broadcast meanwhile goes to the reload buffer
	s.beginReload()
	s.vacant.Store(true)
	if err := closeInstance(old.inst); err != nil {
		m.log.Warn().Err(err).Str("plugin", name).Msg("reload: closing the old instance reported an error")
	}
	old.log.Info().Msg("plugin unloaded for reload")
	next, err := old.inst.reopen(m, cfg)
	if err != nil {
		// Restore the old configuration.
		restored, rerr := old.inst.reopen(m, restore)
		if rerr != nil {
			s.vacant.Store(false)
			m.remove(s)
			s.abortReload()
			m.log.Error().Err(rerr).Str("plugin", name).Msg("reload failed and the old config could not be loaded again: the plugin is unloaded")
			return errors.Join(err, fmt.Errorf("restoring the old config: %w", rerr))
		}
		m.log.Warn().Err(err).Str("plugin", name).Msg("reload failed; the old config was loaded again")
		next = restored
	}
	s.vacant.Store(false)
	l := next.cur.Load()
	s.finishReload(l, err == nil, m.catchesUp(l))
	m.startCatchUp(s, l)
	m.publish(*m.slots.Load()) // the subscriptions may have changed
	return err
}

// Flush returns once every event broadcast before the call (every Broadcast and
// BroadcastBatch that returned) has been handed to every plugin: for sync plugins that is
// already so; it waits for each async queue to deliver what it held, and for a reload in
// progress to hand its buffer to the new instance. Events dropped by a full queue, or not
// delivered because of the error policy or a drain timeout, count as handled (see
// Counters.Undelivered). It returns ctx.Err() if ctx ends first. A plugin must not call
// it from its own callbacks (it would wait for itself).
func (m *Manager) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, s := range *m.slots.Load() {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Unload shuts every plugin down, in reverse load order, and refuses further loads. It is
// what a node calls at exit; calling it again does nothing.
func (m *Manager) Unload() { m.Shutdown() }

// Shutdown is Unload, returning each plugin's final description in load order: its
// counters as they stand after its async queue drained and on_unload returned, which
// Plugins can no longer show once the plugin is gone. A tool that reports what its
// plugins received (slipstream replay's summary) reads them here.
func (m *Manager) Shutdown() []PluginInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	slots := *m.slots.Load()
	infos := make([]PluginInfo, len(slots))
	for i := len(slots) - 1; i >= 0; i-- {
		if err := m.unloadSlot(slots[i]); err != nil {
			m.log.Warn().Err(err).Msg("unloading plugin")
		}
		infos[i] = slots[i].info()
		m.lag(&infos[i])
	}
	if m.journal != nil {
		if err := m.journal.Close(); err != nil {
			m.log.Warn().Err(err).Msg("closing the event journal")
		}
	}
	return infos
}

// ListPlugins returns the names of the loaded plugins, in load order.
func (m *Manager) ListPlugins() []string {
	slots := *m.slots.Load()
	names := make([]string, len(slots))
	for i, s := range slots {
		names[i] = s.name()
	}
	return names
}

// Plugins describes the loaded plugins, in load order, with their counters.
func (m *Manager) Plugins() []PluginInfo {
	slots := *m.slots.Load()
	out := make([]PluginInfo, len(slots))
	for i, s := range slots {
		out[i] = s.info()
		m.lag(&out[i])
	}
	return out
}

// Plugin describes one loaded plugin.
func (m *Manager) Plugin(name string) (PluginInfo, bool) {
	for _, s := range *m.slots.Load() {
		if s.name() == name {
			pi := s.info()
			m.lag(&pi)
			return pi, true
		}
	}
	return PluginInfo{}, false
}
