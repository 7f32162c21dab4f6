package host

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigJSON5 checks every JSON5 construct snarkVM's parser accepts: our configs must
// be the same files.
func TestConfigJSON5(t *testing.T) {
	text := `
	/* block comment */
	{
	  // line comment
	  libpath: 'libhistory.so',          // single quotes, unquoted key
	  "name": "history-main",
	  hex: 0x1F,
	  plus: +1,
	  leading: .5,
	  trailing: 5.,
	  inf: Infinity,
	  neginf: -Infinity,
	  nan: NaN,
	  multi: 'line \
continued',
	  nested: { a: [1, 'two', null, true,], },
	  error_policy: 'disable',
	  max_consecutive_errors: 0x10,
	  delivery: "async", queue_capacity: 1024, on_full: 'drop',
	  drain_timeout: '5s',
	  allow_insecure: false,
	}`
	cfg, err := ParseConfig("/etc/slipstream/history.json5", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LibPath != filepath.Clean("/etc/slipstream/libhistory.so") {
		t.Errorf("LibPath = %q (relative paths resolve from the config's directory)", cfg.LibPath)
	}
	if cfg.Name != "history-main" || cfg.ErrorPolicy != PolicyDisable || cfg.MaxConsecutiveErrors != 16 ||
		cfg.Delivery != DeliveryAsync || cfg.QueueCapacity != 1024 || cfg.OnFull != OnFullDrop || cfg.DrainTimeout != 5*time.Second {
		t.Errorf("settings = %+v", cfg)
	}
	for key, want := range map[string]string{
		"libpath":  "libhistory.so",
		"hex":      "0x1F",
		"plus":     "+1",
		"leading":  ".5",
		"trailing": "5.",
		"inf":      "Infinity",
		"neginf":   "-Infinity",
		"nan":      "NaN",
		"multi":    "line continued",
		"nested":   `{"a":[1,"two",null,true]}`,
	} {
		if got, ok := cfg.Value(key); !ok || got != want {
			t.Errorf("Value(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := cfg.Value("absent"); ok {
		t.Error("Value(absent) found")
	}
	const strict = `{"allow_insecure":false,"delivery":"async","drain_timeout":"5s","error_policy":"disable",` +
		`"hex":31,"inf":null,"leading":0.5,"libpath":"libhistory.so","max_consecutive_errors":16,"multi":"line continued",` +
		`"name":"history-main","nan":null,"neginf":null,"nested":{"a":[1,"two",null,true]},"on_full":"drop","plus":1,` +
		`"queue_capacity":1024,"trailing":5.0}`
	if got := string(cfg.JSON()); got != strict {
		t.Errorf("JSON() =\n%s\nwant\n%s", got, strict)
	}
	if got := cfg.PluginKeys(); len(got) != 9 {
		t.Errorf("PluginKeys = %v", got)
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct{ name, text string }{
		{"policy", `{libpath: 'x', error_policy: 'explode'}`},
		{"delivery", `{libpath: 'x', delivery: 1}`},
		{"on_full", `{libpath: 'x', on_full: 'spill'}`},
		{"capacity", `{libpath: 'x', queue_capacity: 0}`},
		{"capacity_float", `{libpath: 'x', queue_capacity: 1.5}`},
		{"max_errors", `{libpath: 'x', max_consecutive_errors: 'ten'}`},
		{"drain", `{libpath: 'x', drain_timeout: 'soon'}`},
		{"sha", `{libpath: 'x', sha256: 'zz'}`},
		{"insecure", `{libpath: 'x', allow_insecure: 'yes'}`},
		{"name", `{libpath: 'x', name: ' '}`},
		{"libpath_type", `{libpath: 3}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("/c.json5", []byte(tc.text))
			if !errors.Is(err, ErrConfigInvalid) {
				t.Fatalf("err = %v, want ErrConfigInvalid", err)
			}
		})
	}
}

// TestConfigSyntaxRefused: inputs the JSON5 decoder accepts but that cannot become the strict
// JSON a plugin receives, or that would exhaust the stack, are syntax errors.
func TestConfigSyntaxRefused(t *testing.T) {
	tests := []struct{ name, text string }{
		{"dot_infinity", `{A:0X0,A:10,A:+.Infinity}`}, // found by FuzzParseConfig (seed corpus: dot-infinity)
		{"dot_infinity_nested", `{a: [1, {b: +.Infinity}]}`},
		{"deep_array", `{a: ` + strings.Repeat("[", MaxConfigDepth) + strings.Repeat("]", MaxConfigDepth) + `}`},
		{"deep_object", `{a: ` + strings.Repeat("{a:", MaxConfigDepth) + "1" + strings.Repeat("}", MaxConfigDepth) + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("/c.json5", []byte(tc.text))
			if !errors.Is(err, ErrConfigSyntax) {
				t.Fatalf("err = %v, want ErrConfigSyntax", err)
			}
		})
	}
	// The deepest nesting allowed still parses.
	ok := `{a: ` + strings.Repeat("[", MaxConfigDepth-1) + strings.Repeat("]", MaxConfigDepth-1) + `}`
	if _, err := ParseConfig("/c.json5", []byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", MaxConfigDepth, err)
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{libpath: 'a.so'}`, `/* c */ {a: 0x10, b: +1, c: .5, d: Infinity, e: 'x',}`,
		`{libpath: "x", delivery: "async", queue_capacity: 10, on_full: "drop"}`, `[]`, `{`, `{a: {b: [1, 2, {c: null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("/dir/c.json5", data)
		if err != nil {
			if !errors.Is(err, ErrConfigSyntax) && !errors.Is(err, ErrConfigInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// The strict JSON handed to plugins must be valid JSON.
		var v any
		if err := json.Unmarshal(cfg.JSON(), &v); err != nil {
			t.Fatalf("JSON() = %s is not JSON: %v", cfg.JSON(), err)
		}
	})
}
