package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/admin"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

func TestMain(m *testing.M) { ctest.Main(m) }

const testToken = "s3cret-test-token"

// env is a running admin server over a manager, with a plugin dir holding copies of the
// recorder library.
type env struct {
	t      *testing.T
	dir    string // the plugin dir (0700)
	outDir string // where the recorders write
	lib    string // the compiled recorder
	m      *host.Manager
	store  *finalize.Store
	srv    *admin.Server
	base   string // http://127.0.0.1:PORT
	token  string
}

type envOpt func(*admin.Config)

// newEnv starts a server on 127.0.0.1, port 0, with the test token.
func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), outDir: t.TempDir(), token: testToken}
	if err := os.Chmod(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.lib = ctest.Plugin(t, "recorder", "testdata/plugins/recorder.c")
	e.m = host.NewManager()
	e.store = finalize.NewStore()
	e.store.SetSlipstreamPluginManager(e.m)
	cfg := admin.Config{Manager: e.m, Store: e.store, Token: e.token, PluginDir: e.dir, Logger: zerolog.Nop()}
	for _, o := range opts {
		o(&cfg)
	}
	e.token = cfg.Token
	srv, err := admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.base = srv, "http://"+addr.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		e.m.Unload()
	})
	return e
}

// libCopy copies the recorder into the plugin dir as name (mode 0755) and returns its path.
// Each plugin needs a library of its own: the host refuses to load one library twice.
func (e *env) libCopy(name string) string {
	e.t.Helper()
	data, err := os.ReadFile(e.lib)
	if err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// config writes <name>.json5 into dir for a recorder plugin named name, loading
// lib<name>.so (copied there if missing), recording into outDir/<name>.out, with extra
// JSON5 members. It returns the config's path.
func (e *env) config(dir, name, extra string) string {
	e.t.Helper()
	lib := filepath.Join(e.dir, "lib"+name+".so")
	if _, err := os.Stat(lib); err != nil {
		e.libCopy("lib" + name + ".so")
	}
	text := fmt.Sprintf("{libpath: %q, name: %q, out: %q, %s}", lib, name, e.out(name), extra)
	p := filepath.Join(dir, name+".json5")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// loadNotify writes the config of the recorder plugin name (see config) into e.dir, loads it
// through the API, then has the store notify n blocks (heights 0 to n-1); it returns what
// the notifications returned, joined.
func (e *env) loadNotify(name, extra string, n int) error {
	e.t.Helper()
	e.config(e.dir, name, extra)
	e.mustStatus(e.do("POST", "/plugins", `{"config_file": "`+name+`.json5"}`, e.bearer()), 201, "load")
	var errs []error
	for i := range n {
		errs = append(errs, e.store.NotifyBlock([]byte("b"), uint32(i)))
	}
	return errors.Join(errs...)
}

// out is the recorder output file of plugin name.
func (e *env) out(name string) string { return filepath.Join(e.outDir, name+".out") }

// response is what a request returned.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; auth is the whole Authorization header ("" for none).
func (e *env) do(method, path, body, auth string) response {
	e.t.Helper()
	return e.doHost(method, path, body, auth, "")
}

func (e *env) doHost(method, path, body, auth, hostHeader string) response {
	e.t.Helper()
	h := http.Header{}
	if hostHeader != "" {
		h.Set("Host", hostHeader)
	}
	return e.doHeaders(method, path, body, auth, h)
}

// doHeaders sends a request with the given headers ("Host" sets the Host the request
// names). A body is sent as application/json unless the headers give a Content-Type
// (an empty one: none at all).
func (e *env) doHeaders(method, path, body, auth string, h http.Header) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		switch k {
		case "Host":
			req.Host = v[0]
		case "Content-Type":
			if v[0] == "" {
				req.Header.Del(k)
			} else {
				req.Header[k] = v
			}
		default:
			req.Header[k] = v
		}
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// bearer is the Authorization header with the env's token.
func (e *env) bearer() string { return "Bearer " + e.token }

// mustStatus fails the test unless r has the status; it returns r.
func (e *env) mustStatus(r response, want int, what string) response {
	e.t.Helper()
	if r.status != want {
		e.t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.body)
	}
	return r
}

// plugin decodes a Plugin body.
func (e *env) plugin(r response) admin.Plugin {
	e.t.Helper()
	var p admin.Plugin
	if err := json.Unmarshal(r.body, &p); err != nil {
		e.t.Fatalf("decoding %s: %v", r.body, err)
	}
	return p
}

// replay finalizes blocks through the env's store until stop is called, like a running
// `slipstream replay`: each block updates two keys and commits a Block event; every
// fifth block is aborted. stop returns the number of blocks committed.
func (e *env) replay() (stop func() int) {
	e.t.Helper()
	prog, mapping := []byte("credits.aleo"), []byte("account")
	if err := e.store.InitializeMapping(prog, mapping); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg        sync.WaitGroup
		committed int
	)
	wg.Go(func() {
		for h := uint32(1); ctx.Err() == nil; h++ {
			aborted := h%5 == 0
			err := e.store.Finalize(h, finalize.RealRun, func() error {
				for i := range 2 {
					key := fmt.Appendf(nil, "key-%d", (int(h)+i)%7)
					if err := e.store.UpdateKeyValue(prog, mapping, key, fmt.Appendf(nil, "v%d", h)); err != nil {
						return err
					}
				}
				e.store.NotifyBlock(fmt.Appendf(nil, "block-%d", h), h)
				if aborted {
					return errAborted
				}
				return nil
			})
			if err != nil && !(aborted && err == errAborted) {
				e.t.Errorf("block %d: %v", h, err)
				return
			}
			if !aborted {
				committed++
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	return func() int {
		cancel()
		wg.Wait()
		return committed
	}
}

var errAborted = fmt.Errorf("block aborted on purpose")

// count returns how many lines start with prefix.
func count(ls []string, prefix string) int {
	n := 0
	for _, l := range ls {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}
