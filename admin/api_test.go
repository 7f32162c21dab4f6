package admin_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/admin"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

func TestNew(t *testing.T) {
	m := host.NewManager()
	defer m.Unload()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     admin.Config
		wantErr string
	}{
		{name: "token", cfg: admin.Config{Manager: m, Token: "t0ken"}},
		{name: "insecure without token", cfg: admin.Config{Manager: m, Insecure: true}},
		{name: "no token", cfg: admin.Config{Manager: m}, wantErr: "no token"},
		{name: "remote without token", cfg: admin.Config{Manager: m, Insecure: true, AllowRemote: true}, wantErr: "needs a token"},
		{name: "remote with token", cfg: admin.Config{Manager: m, Token: "t0ken", AllowRemote: true}},
		{name: "no manager", cfg: admin.Config{Token: "t0ken"}, wantErr: "Manager is nil"},
		{name: "token with space", cfg: admin.Config{Manager: m, Token: "a b"}, wantErr: "white space"},
		{name: "token with newline", cfg: admin.Config{Manager: m, Token: "ab\n"}, wantErr: "white space"},
		{name: "plugin dir", cfg: admin.Config{Manager: m, Token: "t0ken", PluginDir: t.TempDir()}},
		{name: "missing plugin dir", cfg: admin.Config{Manager: m, Token: "t0ken", PluginDir: filepath.Join(t.TempDir(), "nope")}, wantErr: "plugin dir"},
		{name: "plugin dir is a file", cfg: admin.Config{Manager: m, Token: "t0ken", PluginDir: file}, wantErr: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := admin.New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil || srv == nil || srv.Handler() == nil || srv.Registry() == nil {
					t.Fatalf("New: %v", err)
				}
				// Not started: Addr is nil, Shutdown and Close do nothing.
				if srv.Addr() != nil || srv.Shutdown(t.Context()) != nil || srv.Close() != nil {
					t.Fatal("a server that was not started misbehaves")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestStartAddresses(t *testing.T) {
	m := host.NewManager()
	defer m.Unload()
	tests := []struct {
		addr        string
		allowRemote bool
		wantErr     string
	}{
		{addr: "127.0.0.1:0"},
		{addr: "127.0.0.1:0", allowRemote: true}, // allowed, not required
		{addr: "localhost:0"},
		{addr: "0.0.0.0:0", wantErr: "not a loopback"},
		{addr: "[::]:0", wantErr: "not a loopback"},
		{addr: ":0", wantErr: "every interface"},
		{addr: "192.0.2.1:0", wantErr: "not a loopback"},
		{addr: "10.1.2.3:0", wantErr: "not a loopback"},
		{addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			srv, err := admin.New(admin.Config{Manager: m, Token: testToken, AllowRemote: tc.allowRemote})
			if err != nil {
				t.Fatal(err)
			}
			addr, err := srv.Start(tc.addr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					srv.Close()
					t.Fatalf("Start(%q): %v, want an error containing %q", tc.addr, err, tc.wantErr)
				}
				if srv.Addr() != nil {
					t.Errorf("Addr() = %v after a refused Start", srv.Addr())
				}
				return
			}
			if err != nil {
				t.Fatalf("Start(%q): %v", tc.addr, err)
			}
			defer srv.Close()
			if addr.String() != srv.Addr().String() || strings.HasSuffix(addr.String(), ":0") {
				t.Errorf("bound %v, Addr() %v", addr, srv.Addr())
			}
			if _, err := srv.Start("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "already started") {
				t.Errorf("second Start: %v", err)
			}
			resp, err := http.Get("http://" + addr.String() + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz: %d", resp.StatusCode)
			}
		})
	}
}

func TestTokenFromFileOrEnv(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, empty := write("good", "  file-token\n"), write("empty", " \n")
	const env = "SLIPSTREAM_ADMIN_TEST_TOKEN"
	tests := []struct {
		name    string
		file    string
		env     *string
		want    string
		wantErr string
	}{
		{name: "file", file: good, want: "file-token"},
		{name: "file wins over env", file: good, env: new("env-token"), want: "file-token"},
		{name: "env", env: new(" env-token "), want: "env-token"},
		{name: "neither", want: ""},
		{name: "empty file", file: empty, wantErr: "is empty"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "reading the token file"},
		{name: "empty env", env: new(""), wantErr: "set but empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != nil {
				t.Setenv(env, *tc.env)
			} else {
				t.Setenv(env, "")
				os.Unsetenv(env)
			}
			got, err := admin.TokenFromFileOrEnv(tc.file, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestErrors checks every refusal of the API: each leaves the manager as it was.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	loaded := e.config(e.dir, "rec-a", "")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, e.bearer()), 201, "load rec-a")

	// Configs that are under the plugin dir but cannot be loaded.
	write := func(name, text string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(e.dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	lib := e.libCopy("libother.so")
	write("syntax.json5", "{libpath: ", 0o600)
	write("nolib.json5", "{name: 'x'}", 0o600)
	write("badlib.json5", `{libpath: "nope.so"}`, 0o600)
	write("failload.json5", `{libpath: "`+lib+`", name: "f", out: "`+e.out("f")+`", fail_load: "no database"}`, 0o600)
	write("insecure.json5", `{libpath: "`+lib+`", name: "i", out: "`+e.out("i")+`"}`, 0o666)
	write("dupname.json5", `{libpath: "`+lib+`", name: "rec-a", out: "`+e.out("d")+`"}`, 0o600)
	if err := os.Mkdir(filepath.Join(e.dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}

	// Configs outside the plugin dir: a sibling directory (reached with ..), and symlinks
	// inside the plugin dir pointing out of it (to a file, to a directory).
	outside := t.TempDir()
	outCfg := e.config(outside, "escape", "")
	if err := os.Symlink(outCfg, filepath.Join(e.dir, "link.json5")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	dotdot := filepath.Join("..", filepath.Base(outside), "escape.json5")

	auth := e.bearer()
	tests := []struct {
		name, method, path, body, auth string
		host                           string
		want                           int
		wantErr                        string
	}{
		// Authentication of changes.
		{name: "load without token", method: "POST", path: "/plugins", body: `{"config_file": "x.json5"}`, want: 401, wantErr: "missing bearer token"},
		{name: "load with wrong token", method: "POST", path: "/plugins", body: `{"config_file": "x.json5"}`, auth: "Bearer wrong", want: 401, wantErr: "wrong bearer token"},
		{name: "load with token prefix", method: "POST", path: "/plugins", body: `{"config_file": "x.json5"}`, auth: "Bearer " + testToken[:4], want: 401, wantErr: "wrong bearer token"},
		{name: "load with basic auth", method: "POST", path: "/plugins", body: `{"config_file": "x.json5"}`, auth: "Basic " + testToken, want: 401, wantErr: "missing bearer token"},
		{name: "unload without token", method: "DELETE", path: "/plugins/rec-a", want: 401},
		{name: "unload with wrong token", method: "DELETE", path: "/plugins/rec-a", auth: "Bearer x" + testToken, want: 401},
		{name: "reload without token", method: "PUT", path: "/plugins/rec-a", want: 401},
		{name: "reload with wrong token", method: "PUT", path: "/plugins/rec-a", auth: "Bearer nope", want: 401},
		// Bad requests.
		{name: "bad JSON", method: "POST", path: "/plugins", body: `{"config_file": `, auth: auth, want: 400, wantErr: "invalid JSON"},
		{name: "not an object", method: "POST", path: "/plugins", body: `["a"]`, auth: auth, want: 400, wantErr: "invalid JSON"},
		{name: "empty body", method: "POST", path: "/plugins", auth: auth, want: 400, wantErr: "empty body"},
		{name: "missing config_file", method: "POST", path: "/plugins", body: `{}`, auth: auth, want: 400, wantErr: "config_file is required"},
		{name: "unknown field", method: "POST", path: "/plugins", body: `{"config": "rec-a.json5"}`, auth: auth, want: 400, wantErr: "unknown field"},
		{name: "trailing data", method: "POST", path: "/plugins", body: `{"config_file": "a"} {}`, auth: auth, want: 400, wantErr: "after the object"},
		{name: "reload bad JSON", method: "PUT", path: "/plugins/rec-a", body: `{`, auth: auth, want: 400},
		{name: "body too large", method: "POST", path: "/plugins", body: `{"config_file": "` + strings.Repeat("a", admin.MaxBodyBytes) + `"}`, auth: auth, want: 413, wantErr: "too large"},
		// Paths out of the plugin dir.
		{name: "dotdot", method: "POST", path: "/plugins", body: `{"config_file": "` + dotdot + `"}`, auth: auth, want: 403, wantErr: "not under the plugin dir"},
		{name: "dotdot inside a name", method: "POST", path: "/plugins", body: `{"config_file": "sub/../../` + filepath.Base(outside) + `/escape.json5"}`, auth: auth, want: 403},
		{name: "absolute outside", method: "POST", path: "/plugins", body: `{"config_file": "` + outCfg + `"}`, auth: auth, want: 403},
		{name: "etc", method: "POST", path: "/plugins", body: `{"config_file": "/etc/passwd"}`, auth: auth, want: 403},
		{name: "symlink to a file outside", method: "POST", path: "/plugins", body: `{"config_file": "link.json5"}`, auth: auth, want: 403, wantErr: "resolves to"},
		{name: "symlink to a dir outside", method: "POST", path: "/plugins", body: `{"config_file": "linkdir/escape.json5"}`, auth: auth, want: 403, wantErr: "resolves to"},
		{name: "the plugin dir itself", method: "POST", path: "/plugins", body: `{"config_file": "."}`, auth: auth, want: 403},
		{name: "reload from outside", method: "PUT", path: "/plugins/rec-a", body: `{"config_file": "link.json5"}`, auth: auth, want: 403},
		// Configs and plugins that cannot be loaded.
		{name: "missing config", method: "POST", path: "/plugins", body: `{"config_file": "nope.json5"}`, auth: auth, want: 422, wantErr: "cannot read plugin config"},
		{name: "config is a directory", method: "POST", path: "/plugins", body: `{"config_file": "sub"}`, auth: auth, want: 422},
		{name: "config syntax", method: "POST", path: "/plugins", body: `{"config_file": "syntax.json5"}`, auth: auth, want: 422, wantErr: "invalid JSON5"},
		{name: "no libpath", method: "POST", path: "/plugins", body: `{"config_file": "nolib.json5"}`, auth: auth, want: 422, wantErr: "libpath not set"},
		{name: "library missing", method: "POST", path: "/plugins", body: `{"config_file": "badlib.json5"}`, auth: auth, want: 422, wantErr: "cannot be loaded"},
		{name: "on_load fails", method: "POST", path: "/plugins", body: `{"config_file": "failload.json5"}`, auth: auth, want: 422, wantErr: "no database"},
		{name: "insecure config", method: "POST", path: "/plugins", body: `{"config_file": "insecure.json5"}`, auth: auth, want: 422, wantErr: "writable by other users"},
		{name: "reload to a failing config", method: "PUT", path: "/plugins/rec-a", body: `{"config_file": "failload.json5"}`, auth: auth, want: 422, wantErr: "no database"},
		// Conflicts.
		{name: "same config again", method: "POST", path: "/plugins", body: `{"config_file": "` + loaded + `"}`, auth: auth, want: 409, wantErr: "already loaded"},
		{name: "same name", method: "POST", path: "/plugins", body: `{"config_file": "dupname.json5"}`, auth: auth, want: 409, wantErr: "already loaded"},
		// Unknown plugins and routes.
		{name: "get unknown", method: "GET", path: "/plugins/nope", want: 404, wantErr: "not loaded"},
		{name: "unload unknown", method: "DELETE", path: "/plugins/nope", auth: auth, want: 404, wantErr: "not loaded"},
		{name: "reload unknown", method: "PUT", path: "/plugins/nope", auth: auth, want: 404, wantErr: "not loaded"},
		{name: "unknown route", method: "GET", path: "/nope", want: 404, wantErr: "no route"},
		{name: "nested route", method: "GET", path: "/plugins/rec-a/x", want: 404},
		{name: "wrong method", method: "PATCH", path: "/plugins/rec-a", auth: auth, want: 405},
		{name: "wrong method on list", method: "DELETE", path: "/plugins", auth: auth, want: 405},
		// DNS rebinding: a Host that is not loopback.
		{name: "foreign Host", method: "GET", path: "/plugins", host: "evil.example:80", want: 403, wantErr: "not a loopback name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.doHost(tc.method, tc.path, tc.body, tc.auth, tc.host)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			var body admin.ErrorResponse
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
				t.Fatalf("body %q is not {\"error\": …}: %v", r.body, err)
			}
			if !strings.Contains(body.Error, tc.wantErr) {
				t.Errorf("error %q does not contain %q", body.Error, tc.wantErr)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			switch tc.want {
			case 401:
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer")
				}
			case 405:
				if r.header.Get("Allow") == "" {
					t.Errorf("405 without Allow")
				}
			}
			if got := e.m.ListPlugins(); !slices.Equal(got, []string{"rec-a"}) {
				t.Fatalf("plugins after a refused request: %v", got)
			}
			if pi, _ := e.m.Plugin("rec-a"); pi.ConfigFile != loaded {
				t.Fatalf("rec-a's config is now %s", pi.ConfigFile)
			}
		})
	}
}

// TestReads checks the GET endpoints, which need no token on loopback.
func TestReads(t *testing.T) {
	e := newEnv(t)
	e.config(e.dir, "rec-a", "events: 9, delivery: 'async', error_policy: 'disable'")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, e.bearer()), 201, "load")
	for _, ev := range []abi.Event{
		{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: []byte("p"), MappingName: []byte("m"), Key: []byte("k"), Value: []byte("v")},
		{Kind: abi.StakingReward, BlockHeight: 1}, // not subscribed
		{Kind: abi.Block, BlockHeight: 1, Block: []byte("b")},
	} {
		if err := e.m.Broadcast(ev); err != nil {
			t.Fatal(err)
		}
	}
	var one admin.Plugin
	waitFor(t, "async delivery", func() bool {
		one = e.plugin(e.mustStatus(e.do("GET", "/plugins/rec-a", "", ""), 200, "get"))
		c := one.Counters
		return c.Events == 2 && c.Calls == 2 && c.QueueDepth == 0 && c.Latency.Count == 2
	})
	want := admin.Plugin{
		Name: "rec-a", ConfigFile: filepath.Join(e.dir, "rec-a.json5"), Path: filepath.Join(e.dir, "librec-a.so"),
		Native: true, ABIVersion: abi.VersionString(abi.Version), Subscriptions: []string{"MappingUpdate", "Block"},
		Delivery: "async", Isolation: "none", ErrorPolicy: "disable", State: host.StateActive, Position: 1, // the last height delivered
	}
	got := one
	got.LoadedAt, got.Counters = want.LoadedAt, want.Counters
	if gotJSON, wantJSON := jsonText(t, got), jsonText(t, want); gotJSON != wantJSON {
		t.Errorf("plugin\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	c := one.Counters
	if c.ByKind["MappingUpdate"] != 1 || c.ByKind["Block"] != 1 || len(c.ByKind) != 2 || c.Calls != 2 || c.Errors != 0 ||
		c.Dropped != 0 || c.QueueDepth != 0 || c.LastError != "" || c.LastErrorAt != nil || c.Latency.Count != 2 || c.Latency.P50Ns <= 0 || c.Latency.P99Ns < c.Latency.P50Ns {
		t.Errorf("counters %+v", c)
	}
	if one.LoadedAt.IsZero() {
		t.Error("loaded_at not set")
	}
	// The raw JSON uses the documented names.
	raw := string(e.do("GET", "/plugins/rec-a", "", "").body)
	for _, key := range []string{`"name":`, `"config_file":`, `"path":`, `"abi_version":"` + abi.VersionString(abi.Version) + `"`, `"subscriptions":["MappingUpdate","Block"]`,
		`"delivery":"async"`, `"error_policy":"disable"`, `"state":"active"`, `"events":2`, `"by_kind":`, `"calls":`, `"errors":0`,
		`"dropped":0`, `"queue_depth":0`, `"last_error":""`, `"p50_ns":`, `"p99_ns":`} {
		if !strings.Contains(raw, key) {
			t.Errorf("%s lacks %s", raw, key)
		}
	}

	var list []admin.Plugin
	if err := json.Unmarshal(e.mustStatus(e.do("GET", "/plugins", "", ""), 200, "list").body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "rec-a" {
		t.Errorf("list %+v", list)
	}
	e.mustStatus(e.do("HEAD", "/plugins", "", ""), 200, "HEAD")
	e.mustStatus(e.doHost("GET", "/plugins", "", "", "localhost:1234"), 200, "Host localhost")

	var h admin.Health
	if err := json.Unmarshal(e.mustStatus(e.do("GET", "/healthz", "", ""), 200, "healthz").body, &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Plugins != 1 || h.Reasons != nil {
		t.Errorf("health %+v", h)
	}

	// An empty manager lists [] (not null).
	e.mustStatus(e.do("DELETE", "/plugins/rec-a", "", e.bearer()), 204, "unload")
	if body := strings.TrimSpace(string(e.do("GET", "/plugins", "", "").body)); body != "[]" {
		t.Errorf("empty list: %s", body)
	}
}

// TestRemoteReadsNeedToken: with AllowRemote every endpoint but /healthz needs the token.
func TestRemoteReadsNeedToken(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.AllowRemote = true })
	for _, path := range []string{"/plugins", "/plugins/x", "/metrics"} {
		e.mustStatus(e.do("GET", path, "", ""), 401, path+" without token")
		e.mustStatus(e.do("GET", path, "", "Bearer nope"), 401, path+" with a wrong token")
	}
	e.mustStatus(e.do("GET", "/plugins", "", e.bearer()), 200, "/plugins with token")
	e.mustStatus(e.do("GET", "/plugins/x", "", e.bearer()), 404, "/plugins/x with token")
	e.mustStatus(e.do("GET", "/metrics", "", e.bearer()), 200, "/metrics with token")
	e.mustStatus(e.do("GET", "/healthz", "", ""), 200, "/healthz")
	// No Host check when remote access is allowed.
	e.mustStatus(e.doHost("GET", "/healthz", "", "", "node.example:9464"), 200, "foreign Host")
}

// TestInsecure: without a token, changes need no Authorization.
func TestInsecure(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Token, c.Insecure = "", true })
	e.config(e.dir, "rec-a", "")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, ""), 201, "load")
	e.mustStatus(e.do("PUT", "/plugins/rec-a", "", ""), 200, "reload")
	e.mustStatus(e.do("DELETE", "/plugins/rec-a", "", "Bearer anything"), 204, "unload")
}

// TestBrowserRequestsRefused: with --admin-insecure (no token) a web page open in a
// browser on the same machine must not be able to change anything: a cross-origin
// text/plain or form POST needs no CORS preflight, so every changing request needs a JSON
// body and an Origin (if any) that is the server itself.
func TestBrowserRequestsRefused(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.Token, c.Insecure = "", true })
	e.config(e.dir, "rec-a", "")
	e.config(e.dir, "rec-b", "")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, ""), 201, "load rec-a")
	loadedA, _ := e.m.Plugin("rec-a")
	self := e.base // http://127.0.0.1:PORT, the server's own origin
	load := `{"config_file": "rec-b.json5"}`
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		want                     int
		wantErr                  string
	}{
		{"text/plain load", "POST", "/plugins", load, hdr("Content-Type", "text/plain"), 415, `Content-Type "text/plain": the body must be JSON, sent with Content-Type: application/json`},
		{"form load", "POST", "/plugins", load, hdr("Content-Type", "application/x-www-form-urlencoded"), 415, "the body must be JSON"},
		{"multipart load", "POST", "/plugins", load, hdr("Content-Type", "multipart/form-data; boundary=x"), 415, "the body must be JSON"},
		{"no Content-Type", "POST", "/plugins", load, hdr("Content-Type", ""), 415, "no Content-Type: the body must be JSON"},
		{"text/plain reload", "PUT", "/plugins/rec-a", `{}`, hdr("Content-Type", "text/plain"), 415, "the body must be JSON"},
		{"text/plain unload", "DELETE", "/plugins/rec-a", `{}`, hdr("Content-Type", "text/plain"), 415, "the body must be JSON"},
		{"foreign Origin load", "POST", "/plugins", load, hdr("Origin", "http://evil.example"), 403, `cross-origin request refused: Origin "http://evil.example" is not this server`},
		{"foreign Origin text/plain", "POST", "/plugins", load, hdr("Origin", "http://evil.example", "Content-Type", "text/plain"), 403, "cross-origin request refused"},
		{"other local port", "POST", "/plugins", load, hdr("Origin", "http://127.0.0.1:1"), 403, "cross-origin request refused"},
		{"localhost name, other port", "POST", "/plugins", load, hdr("Origin", "http://localhost:1"), 403, "cross-origin request refused"},
		{"null Origin", "POST", "/plugins", load, hdr("Origin", "null"), 403, `Origin "null" is not this server`},
		{"foreign Origin reload", "PUT", "/plugins/rec-a", "", hdr("Origin", "http://evil.example"), 403, "cross-origin request refused"},
		{"foreign Origin unload", "DELETE", "/plugins/rec-a", "", hdr("Origin", "https://evil.example"), 403, "cross-origin request refused"},
		{"cross-site fetch", "DELETE", "/plugins/rec-a", "", hdr("Sec-Fetch-Site", "cross-site"), 403, "cross-origin request refused (Sec-Fetch-Site: cross-site)"},
		{"same-site fetch", "POST", "/plugins", load, hdr("Sec-Fetch-Site", "same-site"), 403, "Sec-Fetch-Site: same-site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.doHeaders(tc.method, tc.path, tc.body, "", tc.header)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			var body admin.ErrorResponse
			if err := json.Unmarshal(r.body, &body); err != nil || !strings.Contains(body.Error, tc.wantErr) {
				t.Fatalf("body %s (%v), want an error containing %q", r.body, err, tc.wantErr)
			}
			if got := e.m.ListPlugins(); !slices.Equal(got, []string{"rec-a"}) {
				t.Fatalf("plugins after a refused request: %v", got)
			}
			if pi, _ := e.m.Plugin("rec-a"); !pi.LoadedAt.Equal(loadedA.LoadedAt) {
				t.Fatalf("rec-a was reloaded by a refused request")
			}
		})
	}
	// What the server's own origin, and clients that are not browsers, may send.
	e.mustStatus(e.doHeaders("POST", "/plugins", load, "", hdr("Origin", self, "Content-Type", "application/json; charset=utf-8")), 201, "load from the same origin")
	e.mustStatus(e.doHeaders("PUT", "/plugins/rec-b", "", "", hdr("Sec-Fetch-Site", "same-origin")), 200, "reload without a body, same-origin fetch")
	e.mustStatus(e.doHeaders("DELETE", "/plugins/rec-b", "", "", hdr("Origin", self)), 204, "unload from the same origin")
	e.mustStatus(e.doHeaders("DELETE", "/plugins/rec-a", "", "", nil), 204, "unload without Origin (curl)")
	// Reads stay open to anything that passes the Host check.
	e.mustStatus(e.doHeaders("GET", "/plugins", "", "", hdr("Origin", "http://evil.example")), 200, "read with a foreign Origin")
}

// TestNoPluginDir: without a plugin dir nothing is loaded through the API, but a plugin
// loaded by the operator can be reloaded from its own config.
func TestNoPluginDir(t *testing.T) {
	e := newEnv(t, func(c *admin.Config) { c.PluginDir = "" })
	cfg := e.config(e.dir, "rec-a", "")
	if _, err := e.m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	r := e.mustStatus(e.do("POST", "/plugins", `{"config_file": "`+cfg+`"}`, e.bearer()), 403, "load")
	if !strings.Contains(string(r.body), "no plugin dir") {
		t.Errorf("body %s", r.body)
	}
	e.mustStatus(e.do("PUT", "/plugins/rec-a", `{"config_file": "`+cfg+`"}`, e.bearer()), 403, "reload from a file")
	e.mustStatus(e.do("PUT", "/plugins/rec-a", `{}`, e.bearer()), 200, "reload from the current config")
}

// TestManagerClosed: once the node shut the manager down, loads get 503.
func TestManagerClosed(t *testing.T) {
	e := newEnv(t)
	e.config(e.dir, "rec-a", "")
	e.m.Unload()
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, e.bearer()), 503, "load after Unload")
}

// TestRoundTripsWhileReplaying loads, reloads and unloads plugins over HTTP while a replay
// keeps finalizing blocks through the same manager.
func TestRoundTripsWhileReplaying(t *testing.T) {
	e := newEnv(t)
	stop := e.replay()
	defer stop()
	cfgs := map[string]string{
		"sync":  e.config(e.dir, "rec-sync", ""),
		"async": e.config(e.dir, "rec-async", "delivery: 'async', queue_capacity: 64"),
	}
	// A second config of rec-sync, in a subdirectory, recording elsewhere.
	if err := os.Mkdir(filepath.Join(e.dir, "v2"), 0o700); err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(e.dir, "v2", "rec-sync.json5")
	text := `{libpath: "../librec-sync.so", name: "rec-sync", out: "` + e.out("rec-sync-v2") + `", events: 8}`
	if err := os.WriteFile(v2, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	const rounds = 5
	for round := range rounds {
		for _, kind := range []string{"sync", "async"} {
			name := "rec-" + kind
			rel, _ := filepath.Rel(e.dir, cfgs[kind])
			r := e.mustStatus(e.do("POST", "/plugins", `{"config_file": "`+rel+`"}`, e.bearer()), 201, "load "+name)
			if p := e.plugin(r); p.Name != name || p.State != host.StateActive || p.Delivery != kind || p.ConfigFile != cfgs[kind] {
				t.Fatalf("round %d: loaded %+v", round, p)
			}
			if loc := r.header.Get("Location"); loc != "/plugins/"+name {
				t.Errorf("Location %q", loc)
			}
			// It receives the replay's events.
			waitFor(t, name+" receives events", func() bool {
				return e.plugin(e.do("GET", "/plugins/"+name, "", "")).Counters.Events > 0
			})
			// Reload from the current config (no body, then an empty object).
			e.mustStatus(e.do("PUT", "/plugins/"+name, "", e.bearer()), 200, "reload "+name)
			p := e.plugin(e.mustStatus(e.do("PUT", "/plugins/"+name, "{}", e.bearer()), 200, "reload "+name))
			if p.Name != name || p.ConfigFile != cfgs[kind] {
				t.Fatalf("reloaded %+v", p)
			}
		}
		// Reload rec-sync from another config (absolute path under the plugin dir), then back.
		p := e.plugin(e.mustStatus(e.do("PUT", "/plugins/rec-sync", `{"config_file": "`+v2+`"}`, e.bearer()), 200, "reload v2"))
		if p.ConfigFile != v2 || !slices.Equal(p.Subscriptions, []string{"Block"}) {
			t.Fatalf("reloaded with v2: %+v", p)
		}
		p = e.plugin(e.mustStatus(e.do("PUT", "/plugins/rec-sync", `{"config_file": "rec-sync.json5"}`, e.bearer()), 200, "reload v1"))
		if p.ConfigFile != cfgs["sync"] || len(p.Subscriptions) != 4 {
			t.Fatalf("reloaded with v1: %+v", p)
		}
		for _, name := range []string{"rec-sync", "rec-async"} {
			e.mustStatus(e.do("DELETE", "/plugins/"+name, "", e.bearer()), 204, "unload "+name)
			e.mustStatus(e.do("GET", "/plugins/"+name, "", ""), 404, "get after unload")
			e.mustStatus(e.do("DELETE", "/plugins/"+name, "", e.bearer()), 404, "unload again")
		}
	}
	blocks := stop()
	if blocks == 0 {
		t.Fatal("the replay committed no block")
	}
	if st := e.store.Stats(); st.BlocksFinalized != uint64(blocks) || st.AbortedBatches == 0 {
		t.Errorf("store stats %+v after %d blocks", st, blocks)
	}
	for _, name := range []string{"rec-sync", "rec-async"} {
		ls := ctest.ReadLines(t, e.out(name))
		// rounds loads + 2*rounds reloads (+ 2*rounds for rec-sync's switches, counted in v2's file for half).
		if n := count(ls, "load reload=0"); n != rounds {
			t.Errorf("%s: %d first loads, want %d", name, n, rounds)
		}
		if n := count(ls, "unload"); n != count(ls, "load ") {
			t.Errorf("%s: %d on_load, %d on_unload", name, count(ls, "load "), n)
		}
		if count(ls, "ev ") == 0 {
			t.Errorf("%s received no event", name)
		}
	}
	if n := count(ctest.ReadLines(t, e.out("rec-sync-v2")), "load reload=1"); n != rounds {
		t.Errorf("v2 config loaded %d times, want %d", n, rounds)
	}
}

// TestReloadRenames: a reload whose new config sets another name answers with the plugin
// under its new name.
func TestReloadRenames(t *testing.T) {
	e := newEnv(t)
	e.config(e.dir, "rec-a", "")
	text := `{libpath: "librec-a.so", name: "rec-z", out: "` + e.out("rec-z") + `"}`
	if err := os.WriteFile(filepath.Join(e.dir, "renamed.json5"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, e.bearer()), 201, "load")
	p := e.plugin(e.mustStatus(e.do("PUT", "/plugins/rec-a", `{"config_file": "renamed.json5"}`, e.bearer()), 200, "reload"))
	if p.Name != "rec-z" || p.ConfigFile != filepath.Join(e.dir, "renamed.json5") {
		t.Errorf("reloaded %+v", p)
	}
	e.mustStatus(e.do("GET", "/plugins/rec-a", "", ""), 404, "old name")
	e.mustStatus(e.do("GET", "/plugins/rec-z", "", ""), 200, "new name")
}

// TestHealthz: /healthz turns 503 while a plugin is disabled or failed, and back to 200
// after a reload.
func TestHealthz(t *testing.T) {
	tests := []struct {
		policy, extra, state, reason string
	}{
		{policy: "disable", extra: "max_consecutive_errors: 3", state: "disabled", reason: "is disabled"},
		{policy: "halt", state: "failed", reason: "failed (error_policy halt)"},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			e := newEnv(t)
			e.config(e.dir, "ok", "")
			e.config(e.dir, "bad", "fail_every: 1, error_policy: '"+tc.policy+"', "+tc.extra)
			for _, n := range []string{"ok", "bad"} {
				e.mustStatus(e.do("POST", "/plugins", `{"config_file": "`+n+`.json5"}`, e.bearer()), 201, "load "+n)
			}
			e.mustStatus(e.do("GET", "/healthz", "", ""), 200, "healthz before")
			for i := range 5 {
				_ = e.m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: uint32(i), Block: []byte("b")})
			}
			r := e.mustStatus(e.do("GET", "/healthz", "", ""), 503, "healthz after the failures")
			var h admin.Health
			if err := json.Unmarshal(r.body, &h); err != nil {
				t.Fatal(err)
			}
			if h.Status != "unhealthy" || h.Plugins != 2 || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], `"bad" `+tc.reason) ||
				!strings.Contains(h.Reasons[0], "fails on purpose") {
				t.Errorf("health %+v", h)
			}
			if p := e.plugin(e.do("GET", "/plugins/bad", "", "")); string(p.State) != tc.state || p.Counters.LastError == "" || p.Counters.LastErrorAt == nil {
				t.Errorf("bad plugin %+v", p)
			}
			m := scrape(t, e)
			if got := gauge(t, m, "slipstream_plugin_"+tc.state, "bad"); got != 1 {
				t.Errorf("slipstream_plugin_%s{bad} = %v", tc.state, got)
			}
			if got := gauge(t, m, "slipstream_plugin_"+tc.state, "ok"); got != 0 {
				t.Errorf("slipstream_plugin_%s{ok} = %v", tc.state, got)
			}
			// A reload re-enables it.
			e.mustStatus(e.do("PUT", "/plugins/bad", "", e.bearer()), 200, "reload")
			e.mustStatus(e.do("GET", "/healthz", "", ""), 200, "healthz after the reload")
			// Unloading it also makes the node healthy.
			for i := range 5 {
				_ = e.m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: uint32(i), Block: []byte("b")})
			}
			e.mustStatus(e.do("GET", "/healthz", "", ""), 503, "healthz after new failures")
			e.mustStatus(e.do("DELETE", "/plugins/bad", "", e.bearer()), 204, "unload")
			e.mustStatus(e.do("GET", "/healthz", "", ""), 200, "healthz after the unload")
		})
	}
}

// TestNewWithLogger checks that the server logs the changes it makes.
func TestLogsChanges(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, func(c *admin.Config) { c.Logger = zerolog.New(&buf) })
	e.config(e.dir, "rec-a", "")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, e.bearer()), 201, "load")
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "rec-a.json5"}`, "Bearer nope"), 401, "load")
	logs := buf.String()
	for _, want := range []string{`"message":"admin: plugin loaded"`, `"plugin":"rec-a"`, `"status":401`, `"message":"admin API listening"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, testToken) {
		t.Error("the token was logged")
	}
}
