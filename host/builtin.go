package host

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownBuiltin: a config's builtin names no plugin built into the program.
var ErrUnknownBuiltin = errors.New("unknown built-in plugin")

// builtins is the program's registry of built-in Go plugins (RegisterBuiltin).
var builtins struct {
	mu sync.RWMutex
	m  map[string]func() Plugin
}

// RegisterBuiltin makes a Go-native plugin built into the program loadable from a config
// file with builtin: name instead of libpath, by every Manager of the process (LoadPlugin,
// and so check, replay and the admin API). factory returns a new, unloaded instance for
// each load. A program calls it at start-up (an init function); it panics on an empty name,
// a nil factory or a name registered twice, which are programming errors.
func RegisterBuiltin(name string, factory func() Plugin) {
	if name == "" || factory == nil {
		panic("host: RegisterBuiltin needs a name and a factory")
	}
	builtins.mu.Lock()
	defer builtins.mu.Unlock()
	if _, dup := builtins.m[name]; dup {
		panic(fmt.Sprintf("host: built-in plugin %q registered twice", name))
	}
	if builtins.m == nil {
		builtins.m = map[string]func() Plugin{}
	}
	builtins.m[name] = factory
}

// WithBuiltin makes a Go-native plugin loadable from a config file with builtin: name on
// this manager only (before the process's RegisterBuiltin registry, which it overrides for
// name). factory returns a new, unloaded instance for each load.
func WithBuiltin(name string, factory func() Plugin) Option {
	return func(m *Manager) {
		if name == "" || factory == nil {
			panic("host: WithBuiltin needs a name and a factory")
		}
		if m.builtins == nil {
			m.builtins = map[string]func() Plugin{}
		}
		m.builtins[name] = factory
	}
}

// builtinNames lists the built-in plugins m knows, sorted.
func (m *Manager) builtinNames() []string {
	seen := map[string]bool{}
	for n := range m.builtins {
		seen[n] = true
	}
	builtins.mu.RLock()
	for n := range builtins.m {
		seen[n] = true
	}
	builtins.mu.RUnlock()
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func builtinList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// builtinFactory returns the factory of the built-in plugin name, or nil.
func (m *Manager) builtinFactory(name string) func() Plugin {
	if f := m.builtins[name]; f != nil {
		return f
	}
	builtins.mu.RLock()
	defer builtins.mu.RUnlock()
	return builtins.m[name]
}

// loadBuiltin is LoadPlugin for a config with builtin: a new instance of the built-in
// plugin is registered as Register does with that config.
func (m *Manager) loadBuiltin(cfg *Config) (string, error) {
	factory := m.builtinFactory(cfg.Builtin)
	if factory == nil {
		return "", &LoadError{Config: cfg.File, Err: fmt.Errorf("%w: builtin: %q (this program has: %s; set one of them, or libpath for a plugin library)",
			ErrUnknownBuiltin, cfg.Builtin, builtinList(m.builtinNames()))}
	}
	p := factory()
	if p == nil {
		return "", &LoadError{Config: cfg.File, Err: fmt.Errorf("%w: the factory of built-in plugin %q returned nil", ErrInvalidPlugin, cfg.Builtin)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", &LoadError{Config: cfg.File, Err: ErrClosed}
	}
	s, err := m.loadGo(p, cfg, false)
	if err != nil {
		return "", err
	}
	m.add(s)
	return s.name(), nil
}
