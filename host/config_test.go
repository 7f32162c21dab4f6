package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
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
		{"isolation", `{libpath: 'x', isolation: 'thread'}`},
		{"call_timeout", `{libpath: 'x', isolation: 'process', call_timeout: '0s'}`},
		{"restart_window", `{libpath: 'x', restart_window: 10}`},
		{"max_restarts", `{libpath: 'x', max_restarts: -1}`},
		{"max_restarts_float", `{libpath: 'x', max_restarts: 1.5}`},
		{"isolation_sync", `{libpath: 'x', isolation: 'process', delivery: 'sync'}`},
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

// TestConfigIsolation: the isolation keys, their defaults, and that isolation "process"
// implies delivery async.
func TestConfigIsolation(t *testing.T) {
	for _, tc := range []struct {
		text     string
		iso      Isolation
		delivery Delivery
		timeout  time.Duration
		restarts int
		window   time.Duration
	}{
		{`{libpath: 'x'}`, IsolationNone, DeliverySync, DefaultCallTimeout, DefaultMaxRestarts, DefaultRestartWindow},
		{`{libpath: 'x', isolation: 'none', delivery: 'sync'}`, IsolationNone, DeliverySync, 30 * time.Second, 5, 10 * time.Minute},
		{`{libpath: 'x', isolation: 'process'}`, IsolationProcess, DeliveryAsync, 30 * time.Second, 5, 10 * time.Minute},
		{`{libpath: 'x', isolation: 'process', delivery: 'async', call_timeout: '2s', max_restarts: 0, restart_window: '1h'}`,
			IsolationProcess, DeliveryAsync, 2 * time.Second, 0, time.Hour},
	} {
		cfg, err := ParseConfig("/c.json5", []byte(tc.text))
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		if cfg.Isolation != tc.iso || cfg.Delivery != tc.delivery || cfg.CallTimeout != tc.timeout || cfg.MaxRestarts != tc.restarts || cfg.RestartWindow != tc.window {
			t.Errorf("%s: isolation %v delivery %v call_timeout %v max_restarts %d restart_window %v", tc.text,
				cfg.Isolation, cfg.Delivery, cfg.CallTimeout, cfg.MaxRestarts, cfg.RestartWindow)
		}
		if keys := cfg.PluginKeys(); len(keys) != 0 {
			t.Errorf("%s: plugin keys %v (the isolation keys are the host's)", tc.text, keys)
		}
	}
	if w := mustParse(t, `{libpath: 'x', isolaton: 'process'}`).Suspicious(); len(w) != 1 || !strings.Contains(w[0], `"isolation"`) {
		t.Errorf("a misspelled isolation key: %q", w)
	}
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	cfg, err := ParseConfig("/c.json5", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestConfigSyntaxRefused: inputs the JSON5 decoder accepts but that cannot become the strict
// JSON a plugin receives, or that would exhaust the stack, are syntax errors.
func TestConfigSyntaxRefused(t *testing.T) {
	tests := []struct{ name, text string }{
		{"dot_infinity", `{A:0X0,A:10,A:+.Infinity}`}, // found by FuzzParseConfig (seed corpus: dot-infinity)
		{"dot_infinity_nested", `{a: [1, {b: +.Infinity}]}`},
		{"deep_array", `{a: ` + strings.Repeat("[", MaxConfigDepth) + strings.Repeat("]", MaxConfigDepth) + `}`},
		{"deep_object", `{a: ` + strings.Repeat("{a:", MaxConfigDepth) + "1" + strings.Repeat("}", MaxConfigDepth) + `}`},
		// 18.8: text after the top-level object was ignored (policy log, no pin).
		{"trailing_text", `{ libpath: "x.so" } sha256: "` + strings.Repeat("ab", 32) + `", error_policy: "halt" }`},
		{"trailing_value", `{ libpath: "x.so" } {}`},
		{"trailing_after_comment", "{ libpath: 'x.so' } // c\n x"},
		{"trailing_unclosed_comment", `{ libpath: 'x.so' } /* c`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("/c.json5", []byte(tc.text))
			if !errors.Is(err, ErrConfigSyntax) {
				t.Fatalf("err = %v, want ErrConfigSyntax", err)
			}
		})
	}
	// The deepest nesting allowed still parses; brackets in strings and comments do not count.
	deepText := `{a: "` + strings.Repeat("[", 100) + `", b: '{{{{\'{{', /* ` + strings.Repeat("{", 100) + ` */ // ` + strings.Repeat("[", 100) + "\n c: 1}"
	if _, err := ParseConfig("/c.json5", []byte(deepText)); err != nil {
		t.Fatalf("brackets in strings and comments: %v", err)
	}
	ok := `{a: ` + strings.Repeat("[", MaxConfigDepth-1) + strings.Repeat("]", MaxConfigDepth-1) + `}`
	if _, err := ParseConfig("/c.json5", []byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", MaxConfigDepth, err)
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{libpath: 'a.so'}`, `/* c */ {a: 0x10, b: +1, c: .5, d: Infinity, e: 'x',}`,
		`{libpath: "x", delivery: "async", queue_capacity: 10, on_full: "drop"}`, `[]`, `{`, `{a: {b: [1, 2, {c: null}]}}`,
		`{a: 1} /* c */ {b: 2}`, "\ufeff{a: '[{'} // x", `{a: [[[['x]']]]]}`,
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

// TestConfigDeepNestingCheap (18.7): 2,000,000 '[' are a clear ErrConfigSyntax at a small
// cost. The decoder recurses once per level: it used 900 MB of stack (and 2 s) for them
// before the raw text was scanned for depth; with the stack limited to 16 MB it crashed.
func TestConfigDeepNestingCheap(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(16 << 20))
	for name, text := range map[string]string{
		"open":     strings.Repeat("[", 2_000_000),
		"balanced": `{a: ` + strings.Repeat("[", 2_000_000) + strings.Repeat("]", 2_000_000) + `}`,
		"objects":  `{a: ` + strings.Repeat("{a:", 2_000_000) + "1" + strings.Repeat("}", 2_000_000) + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig("/c.json5", []byte(text))
			if !errors.Is(err, ErrConfigSyntax) || !strings.Contains(err.Error(), "nest deeper than 64") {
				t.Fatalf("err = %v, want ErrConfigSyntax about the nesting", err)
			}
		})
	}
}

// TestConfigTrailingAndBOM: white space and comments may follow the top-level object, and a
// UTF-8 byte order mark may precede it (JSON5 white space).
func TestConfigTrailingAndBOM(t *testing.T) {
	for name, text := range map[string]string{
		"trailing_space":    "{libpath: 'x.so', error_policy: 'halt'}  \n\t\r\n",
		"trailing_comments": "{libpath: 'x.so', error_policy: 'halt'} // end\n/* more */\n// last",
		"bom":               "\ufeff{libpath: 'x.so', error_policy: 'halt'}",
		"bom_comment":       "\ufeff// header\n{libpath: 'x.so', error_policy: 'halt'}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseConfig("/c.json5", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ErrorPolicy != PolicyHalt || cfg.LibPath != filepath.Clean("/x.so") {
				t.Errorf("settings = %+v", cfg)
			}
		})
	}
}

// TestConfigNames: a config's name must be printable UTF-8 of at most MaxNameLen bytes.
func TestConfigNames(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"plain", "history-main", true},
		{"unicode", "historique-été 2", true},
		{"max_len", strings.Repeat("n", MaxNameLen), true},
		{"too_long", strings.Repeat("n", MaxNameLen+1), false},
		{"newline", "a\nb", false},
		{"control", "a\x01b", false},
		{"tab", "a\tb", false},
		{"bidi_control", "a\u202eb", false},
		{"spaces", "   ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := json.Marshal(tc.value)
			_, err := ParseConfig("/c.json5", []byte(`{libpath: 'x', name: `+string(v)+`}`))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && (!errors.Is(err, ErrConfigInvalid) || !errors.Is(err, ErrInvalidName)):
				t.Fatalf("err = %v, want ErrConfigInvalid and ErrInvalidName", err)
			}
		})
	}
}

// TestCheckName: invalid UTF-8 cannot come from a config (the decoder replaces it) but can
// from a plugin's name().
func TestCheckName(t *testing.T) {
	for _, bad := range []string{"a\xffb", "a\nb", "", strings.Repeat("x", 1<<20)} {
		if err := checkName(bad); !errors.Is(err, ErrInvalidName) || len(err.Error()) > 300 {
			t.Errorf("checkName(%.20q) = %v, want a short ErrInvalidName", bad, err)
		}
	}
}

// TestConfigSuspicious: an unknown key within two edits of a host setting is reported.
func TestConfigSuspicious(t *testing.T) {
	tests := []struct {
		key, like string // like "": not suspicious
	}{
		{"eror_policy", "error_policy"},
		{"error_polcy", "error_policy"},
		{"LibPath", "libpath"},
		{"lib_path", "libpath"},
		{"queue-capacity", "queue_capacity"},
		{"sha265", "sha256"},
		{"allow_insecur", "allow_insecure"},
		{"nmae", "name"},
		{"naem", "name"},
		{"errro_policy", "error_policy"},
		{"node", ""},
		{"date", ""},
		{"time", ""},
		{"out", ""},
		{"events", ""},
		{"fail_every", ""},
		{"database_url", ""},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			cfg, err := ParseConfig("/c.json5", []byte(`{libpath: 'x', "`+tc.key+`": 1}`))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Suspicious()
			if tc.like == "" {
				if len(got) != 0 {
					t.Errorf("Suspicious() = %v, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], `"`+tc.key+`"`) || !strings.Contains(got[0], `"`+tc.like+`"`) {
				t.Errorf("Suspicious() = %v, want one naming %q and %q", got, tc.key, tc.like)
			}
		})
	}
}

// TestConfigEnumNames: every value of an enumerated setting prints as the name the config
// takes for it (and that name parses back to the value); a value out of range prints as
// the setting's default.
func TestConfigEnumNames(t *testing.T) {
	for _, tc := range []struct {
		key   string
		names []string // by value, the default first
		get   func(*Config) fmt.Stringer
		of    func(int) fmt.Stringer
	}{
		{"error_policy", []string{"log", "disable", "halt"},
			func(c *Config) fmt.Stringer { return c.ErrorPolicy }, func(i int) fmt.Stringer { return ErrorPolicy(i) }},
		{"delivery", []string{"sync", "async"},
			func(c *Config) fmt.Stringer { return c.Delivery }, func(i int) fmt.Stringer { return Delivery(i) }},
		{"on_full", []string{"block", "drop"},
			func(c *Config) fmt.Stringer { return c.OnFull }, func(i int) fmt.Stringer { return OnFull(i) }},
		{"isolation", []string{"none", "process"},
			func(c *Config) fmt.Stringer { return c.Isolation }, func(i int) fmt.Stringer { return Isolation(i) }},
	} {
		for i, name := range tc.names {
			if got := tc.of(i).String(); got != name {
				t.Errorf("%s value %d prints %q, want %q", tc.key, i, got, name)
			}
			text := fmt.Sprintf("{libpath: 'x.so', %s: %q}", tc.key, name)
			cfg, err := ParseConfig("/etc/slipstream/p.json5", []byte(text))
			if err != nil {
				t.Errorf("%s: %v", text, err)
				continue
			}
			if got := tc.get(cfg); got != tc.of(i) {
				t.Errorf("%s parses to %v, want %v", text, got, tc.of(i))
			}
		}
		for _, out := range []int{-1, len(tc.names), 99} {
			if got := tc.of(out).String(); got != tc.names[0] {
				t.Errorf("%s value %d prints %q, want the default %q", tc.key, out, got, tc.names[0])
			}
		}
	}
}
