package host_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// Issue 17.1: builtin is a host key; it replaces libpath, and both set is an error.
func TestBuiltinConfig(t *testing.T) {
	for _, tc := range []struct {
		name, text, builtin, err string
	}{
		{"builtin", `{builtin: "nats", url: "nats://x"}`, "nats", ""},
		{"both", `{builtin: "nats", libpath: "lib.so"}`, "", "both libpath and builtin are set"},
		{"empty", `{builtin: ""}`, "", "builtin must be the name of a built-in plugin"},
		{"not a string", `{builtin: 7}`, "", "builtin must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := host.ParseConfig("/etc/slipstream/nats.json5", []byte(tc.text))
			if tc.err != "" {
				if !errors.Is(err, host.ErrConfigInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrConfigInvalid with %q", err, tc.err)
				}
				return
			}
			if err != nil || cfg.Builtin != tc.builtin || cfg.LibPath != "" {
				t.Fatalf("cfg = %+v, %v", cfg, err)
			}
			if keys := cfg.PluginKeys(); len(keys) != 1 || keys[0] != "url" {
				t.Errorf("PluginKeys = %v: builtin is the host's", keys)
			}
		})
	}
}

// The process's registry is filled once, as a program's init does (a second
// RegisterBuiltin of a name panics, so not in the test: -count=2 must pass).
func init() {
	host.RegisterBuiltin("test-global", func() host.Plugin { return &goPlugin{name: "global", mask: abi.MaskAll} })
}

// Issue 17.1: LoadPlugin loads a config with builtin: through the manager's WithBuiltin or
// the process's RegisterBuiltin, as Register would (OnLoad gets the config file, the
// config's name and settings apply, reload works); an unknown name is a typed error that
// lists the known ones, and nothing is registered.
func TestBuiltinLoadPlugin(t *testing.T) {
	var made []*goPlugin
	factory := func() host.Plugin {
		p := &goPlugin{name: "gp", mask: abi.Mask(abi.Block)}
		made = append(made, p)
		return p
	}
	m := host.NewManager(host.WithBuiltin("test-local", factory))
	defer m.Unload()
	dir := t.TempDir()

	cfg := writeConfig(t, dir, "a.json5", `{builtin: "test-local", name: "first", error_policy: "halt"}`)
	if name, err := m.LoadPlugin(cfg); err != nil || name != "first" {
		t.Fatalf("LoadPlugin = %q, %v", name, err)
	}
	if name, err := m.LoadPlugin(writeConfig(t, dir, "b.json5", `{builtin: "test-local"}`)); err != nil || name != "gp" {
		t.Fatalf("second instance: %q, %v", name, err)
	}
	if len(made) != 2 || made[0] == made[1] {
		t.Fatalf("the factory made %d instances: one per load", len(made))
	}
	if name, err := m.LoadPlugin(writeConfig(t, dir, "g.json5", `{builtin: "test-global"}`)); err != nil || name != "global" {
		t.Fatalf("RegisterBuiltin's: %q, %v", name, err)
	}
	if err := m.Broadcast(evBlock); err != nil {
		t.Fatal(err)
	}
	if len(made[0].events) != 1 || len(made[1].events) != 1 {
		t.Errorf("events: %d, %d", len(made[0].events), len(made[1].events))
	}
	info, _ := m.Plugin("first")
	if info.ErrorPolicy != host.PolicyHalt {
		t.Errorf("error_policy = %v", info.ErrorPolicy)
	}
	if err := m.ReloadPlugin("first", ""); err != nil {
		t.Fatal(err)
	}
	if got := made[0].loads; len(got) != 2 || got[0] || !got[1] {
		t.Errorf("loads = %v, want [false true]", got)
	}

	before := m.ListPlugins()
	_, err := m.LoadPlugin(writeConfig(t, dir, "u.json5", `{builtin: "kafka"}`))
	if !errors.Is(err, host.ErrUnknownBuiltin) || !strings.Contains(err.Error(), "test-global, test-local") || !strings.Contains(err.Error(), "u.json5") {
		t.Errorf("unknown builtin: %v", err)
	}
	if after := m.ListPlugins(); len(after) != len(before) {
		t.Errorf("plugins %v → %v", before, after)
	}
	if _, err := m.LoadPlugin(writeConfig(t, dir, "n.json5", `{name: "x"}`)); !errors.Is(err, host.ErrNoLibpath) || !strings.Contains(err.Error(), "builtin") {
		t.Errorf("neither libpath nor builtin: %v", err)
	}
}

// A factory that returns nil is the program's bug: a typed error, nothing registered.
func TestBuiltinNilInstance(t *testing.T) {
	m := host.NewManager(host.WithBuiltin("nil", func() host.Plugin { return nil }))
	defer m.Unload()
	_, err := m.LoadPlugin(writeConfig(t, t.TempDir(), "c.json5", `{builtin: "nil"}`))
	if !errors.Is(err, host.ErrInvalidPlugin) || len(m.ListPlugins()) != 0 {
		t.Errorf("nil instance: %v, plugins %v", err, m.ListPlugins())
	}
}

// RegisterBuiltin refuses a name registered twice, an empty name and a nil factory.
func TestBuiltinRegisterPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"twice":       func() { host.RegisterBuiltin("test-global", func() host.Plugin { return nil }) },
		"empty name":  func() { host.RegisterBuiltin("", func() host.Plugin { return nil }) },
		"nil factory": func() { host.RegisterBuiltin("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}
