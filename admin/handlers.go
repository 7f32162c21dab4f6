package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// Plugin is the JSON form of a loaded plugin (GET /plugins, GET/POST/PUT /plugins/{name}).
type Plugin struct {
	Name          string         `json:"name"`
	ConfigFile    string         `json:"config_file"`
	Path          string         `json:"path"`   // the library's resolved path; "" for a Go-native plugin
	Native        bool           `json:"native"` // a C-ABI library
	ABIVersion    string         `json:"abi_version"`
	Subscriptions []string       `json:"subscriptions"` // event kind names
	Delivery      string         `json:"delivery"`
	Isolation     string         `json:"isolation"` // none, or process: the plugin runs in a child process
	ErrorPolicy   string         `json:"error_policy"`
	State         host.State     `json:"state"`
	LoadedAt      time.Time      `json:"loaded_at"`
	ResumeHeight  uint64         `json:"resume_height"` // the plugin's resume_height at its last load (0: it keeps no position)
	Position      uint64         `json:"position"`      // the height of the last event delivered (before any: resume_height - 1)
	Lag           uint64         `json:"lag"`           // the journal's last height - position (0 without a journal)
	Counters      PluginCounters `json:"counters"`
	UnloadError   string         `json:"unload_error,omitempty"` // what went wrong in on_unload (a plugin just unloaded)
}

// PluginCounters is the JSON form of host.Counters.
type PluginCounters struct {
	Events       uint64            `json:"events"`
	ByKind       map[string]uint64 `json:"by_kind"` // per subscribed kind
	Calls        uint64            `json:"calls"`
	Errors       uint64            `json:"errors"`
	Dropped      uint64            `json:"dropped"`     // subscribed events not delivered: the sum of Undelivered
	Undelivered  map[string]uint64 `json:"undelivered"` // Dropped by cause: queue_full, disabled, drain_timeout, reload_overflow, failed
	Reloads      uint64            `json:"reloads"`
	Restarts     uint64            `json:"restarts"`                // restarts of the plugin's child process (isolation process)
	RestartCause string            `json:"restart_cause,omitempty"` // why it last restarted: "signal SIGSEGV", "exit status 3", "no answer in 30s"
	Suppressed   uint64            `json:"warnings_suppressed"`
	Skipped      uint64            `json:"skipped"`     // below the resume height: the plugin has them already
	GapHeights   uint64            `json:"gap_heights"` // heights it needed that the journal no longer held (journal gap)
	QueueDepth   int               `json:"queue_depth"`
	LastError    string            `json:"last_error"`
	LastErrorAt  *time.Time        `json:"last_error_at,omitempty"`
	Latency      LatencySummary    `json:"latency"`
}

// LatencySummary summarizes a plugin's callback latency histogram. The host times a sample
// of the calls, so Count may be lower than the number of calls.
type LatencySummary struct {
	Count uint64 `json:"count"`
	P50Ns int64  `json:"p50_ns"`
	P99Ns int64  `json:"p99_ns"`
}

// NewPlugin converts a plugin's description to its JSON form.
func NewPlugin(pi host.PluginInfo) Plugin {
	p := Plugin{
		Name:          pi.Name,
		ConfigFile:    pi.ConfigFile,
		Path:          pi.Path,
		Native:        pi.Native,
		ABIVersion:    abi.VersionString(pi.ABIVersion),
		Subscriptions: []string{},
		Delivery:      pi.Delivery.String(),
		Isolation:     pi.Isolation.String(),
		ErrorPolicy:   pi.ErrorPolicy.String(),
		State:         pi.State,
		LoadedAt:      pi.LoadedAt,
		ResumeHeight:  pi.ResumeHeight,
		Position:      pi.Position,
		Lag:           pi.Lag,
	}
	c := pi.Counters
	p.Counters = PluginCounters{
		Events: c.Events, ByKind: map[string]uint64{}, Calls: c.Calls, Errors: c.Errors,
		Dropped: c.Dropped, Undelivered: map[string]uint64{}, Reloads: c.Reloads, Restarts: c.Restarts, RestartCause: c.RestartCause, Suppressed: c.Suppressed,
		Skipped: c.Skipped, GapHeights: c.GapHeights, QueueDepth: c.QueueDepth, LastError: c.LastError,
		Latency: LatencySummary{
			Count: c.Latency.Count,
			P50Ns: int64(c.Latency.Quantile(0.5)),
			P99Ns: int64(c.Latency.Quantile(0.99)),
		},
	}
	for _, d := range droppedCauses(c.Undelivered) {
		p.Counters.Undelivered[d.cause] = d.n
	}
	p.UnloadError = pi.UnloadError
	for _, k := range pi.Subscriptions.Kinds() {
		p.Subscriptions = append(p.Subscriptions, k.String())
		if int(k) < len(c.ByKind) {
			p.Counters.ByKind[k.String()] = c.ByKind[k]
		}
	}
	if !c.LastErrAt.IsZero() {
		at := c.LastErrAt
		p.Counters.LastErrorAt = &at
	}
	return p
}

// LoadRequest is the body of POST /plugins (config_file required) and PUT /plugins/{name}
// (config_file optional: the plugin's current config). A relative config_file is resolved
// from the plugin dir.
type LoadRequest struct {
	ConfigFile string `json:"config_file"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status  string   `json:"status"` // "ok" or "unhealthy"
	Plugins int      `json:"plugins"`
	Reasons []string `json:"reasons,omitempty"`
}

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Errors of the API itself (the manager's are host's sentinel errors).
var (
	errForbidden    = errors.New("forbidden")
	errBadRequest   = errors.New("bad request")
	errTooLarge     = errors.New("request body too large")
	errNotFound     = errors.New("not found")
	errUnauthorized = errors.New("unauthorized")
	errMediaType    = errors.New("unsupported media type")
)

// loadFailures are the host errors that mean "this config or plugin cannot be loaded": 422.
var loadFailures = []error{
	host.ErrConfigRead, host.ErrConfigSyntax, host.ErrConfigInvalid, host.ErrNoLibpath,
	host.ErrLibraryLoad, host.ErrSymbolMissing, host.ErrIncompatibleABI, host.ErrInvalidPlugin,
	host.ErrOnLoad, host.ErrInsecure, host.ErrHashMismatch,
}

// statusOf maps an error to its HTTP status (see the package documentation).
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errNotFound), errors.Is(err, host.ErrNotLoaded):
		return http.StatusNotFound
	case errors.Is(err, host.ErrAlreadyLoaded):
		return http.StatusConflict
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, host.ErrClosed):
		return http.StatusServiceUnavailable
	}
	for _, e := range loadFailures {
		if errors.Is(err, e) {
			return http.StatusUnprocessableEntity
		}
	}
	return http.StatusInternalServerError
}

// routes builds the handler: the mux, wrapped in the Host check and the request log.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	read := func(h http.HandlerFunc) http.Handler {
		if s.cfg.AllowRemote {
			return s.auth(h)
		}
		return h
	}
	mux.Handle("GET /plugins", read(s.list))
	mux.Handle("GET /plugins/{name}", read(s.get))
	change := func(h http.HandlerFunc) http.Handler { return s.guardChange(s.auth(h)) }
	mux.Handle("POST /plugins", change(s.load))
	mux.Handle("PUT /plugins/{name}", change(s.reload))
	mux.Handle("DELETE /plugins/{name}", change(s.unload))
	mux.Handle("GET /journal", read(s.journal))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", read(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      s.registry,
	}).ServeHTTP))
	mux.HandleFunc("/", s.fallback)
	return s.logged(s.checkHost(mux))
}

// fallback answers what no route matched: 405 for a known path, 404 otherwise, in JSON.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	allow := ""
	switch p := r.URL.Path; {
	case p == "/plugins":
		allow = "GET, HEAD, POST"
	case strings.HasPrefix(p, "/plugins/") && !strings.Contains(p[len("/plugins/"):], "/") && len(p) > len("/plugins/"):
		allow = "GET, HEAD, PUT, DELETE"
	case p == "/healthz", p == "/metrics":
		allow = "GET, HEAD"
	}
	if allow == "" {
		s.fail(w, r, fmt.Errorf("%w: no route %s %s", errNotFound, r.Method, r.URL.Path))
		return
	}
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)})
}

// Journal is the JSON form of the event journal's window (GET /journal).
type Journal struct {
	Enabled     bool   `json:"enabled"` // false: the node keeps no journal (the rest is zero)
	Dir         string `json:"dir,omitempty"`
	Empty       bool   `json:"empty"`
	FirstHeight uint32 `json:"first_height"`
	LastHeight  uint32 `json:"last_height"`
	Bytes       int64  `json:"bytes"`
	Segments    int    `json:"segments"`
}

func (s *Server) journal(w http.ResponseWriter, r *http.Request) {
	ji, ok := s.cfg.Manager.JournalInfo()
	writeJSON(w, http.StatusOK, Journal{Enabled: ok, Dir: ji.Dir, Empty: ji.Empty, FirstHeight: ji.First,
		LastHeight: ji.Last, Bytes: ji.Bytes, Segments: ji.Segments})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	infos := s.cfg.Manager.Plugins()
	out := make([]Plugin, len(infos))
	for i, pi := range infos {
		out[i] = NewPlugin(pi)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	pi, ok := s.cfg.Manager.Plugin(name)
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: plugin %q (loaded: %v)", host.ErrNotLoaded, name, s.cfg.Manager.ListPlugins()))
		return
	}
	writeJSON(w, http.StatusOK, NewPlugin(pi))
}

func (s *Server) load(w http.ResponseWriter, r *http.Request) {
	var req LoadRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.ConfigFile == "" {
		s.fail(w, r, fmt.Errorf("%w: config_file is required", errBadRequest))
		return
	}
	path, err := s.configPath(req.ConfigFile)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name, err := s.cfg.Manager.LoadPlugin(path)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info().Str("plugin", name).Str("config", path).Str("remote", r.RemoteAddr).Msg("admin: plugin loaded")
	pi, ok := s.cfg.Manager.Plugin(name)
	if !ok { // unloaded in between by another request
		s.fail(w, r, fmt.Errorf("%w: plugin %q was unloaded right after loading", host.ErrNotLoaded, name))
		return
	}
	w.Header().Set("Location", "/plugins/"+name)
	writeJSON(w, http.StatusCreated, NewPlugin(pi))
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req LoadRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	path := ""
	if req.ConfigFile != "" {
		var err error
		if path, err = s.configPath(req.ConfigFile); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	old, _ := s.cfg.Manager.Plugin(name)
	if err := s.cfg.Manager.ReloadPlugin(name, path); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info().Str("plugin", name).Str("config", path).Str("remote", r.RemoteAddr).Msg("admin: plugin reloaded")
	pi, ok := s.cfg.Manager.Plugin(name)
	if !ok {
		// The new config may rename the plugin: find it by its config file.
		want := path
		if want == "" {
			want = old.ConfigFile
		}
		for _, p := range s.cfg.Manager.Plugins() {
			if p.ConfigFile == want {
				pi, ok = p, true
				break
			}
		}
	}
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: plugin %q was unloaded right after reloading", host.ErrNotLoaded, name))
		return
	}
	writeJSON(w, http.StatusOK, NewPlugin(pi))
}

func (s *Server) unload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.cfg.Manager.UnloadPlugin(name); err != nil {
		// A plugin that reported an error while closing is unloaded all the same.
		if errors.Is(err, host.ErrNotLoaded) {
			s.fail(w, r, err)
			return
		}
		s.log.Warn().Err(err).Str("plugin", name).Msg("admin: plugin unloaded with an error")
	} else {
		s.log.Info().Str("plugin", name).Str("remote", r.RemoteAddr).Msg("admin: plugin unloaded")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	infos := s.cfg.Manager.Plugins()
	h := Health{Status: "ok", Plugins: len(infos)}
	for _, pi := range infos {
		switch pi.State {
		case host.StateDisabled:
			h.Reasons = append(h.Reasons, fmt.Sprintf("plugin %q is disabled (error_policy disable; reload it to re-enable): %s", pi.Name, pi.Counters.LastError))
		case host.StateFailed:
			h.Reasons = append(h.Reasons, fmt.Sprintf("plugin %q failed (error_policy halt): %s", pi.Name, pi.Counters.LastError))
		}
	}
	status := http.StatusOK
	if len(h.Reasons) > 0 {
		h.Status, status = "unhealthy", http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// configPath resolves a config file named in a request and checks that it lies under the
// plugin dir: relative names are taken from the plugin dir; the path is checked as given
// (no `..` out) and again after resolving symlinks (no link pointing out). It returns the
// resolved path, which is what the manager loads.
func (s *Server) configPath(name string) (string, error) {
	if s.pluginDir == "" {
		return "", fmt.Errorf("%w: no plugin dir is configured (--plugin-dir): plugins cannot be loaded through the API", errForbidden)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: config_file contains a NUL byte", errBadRequest)
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.pluginDir, p)
	}
	p = filepath.Clean(p)
	dirAbs, _ := filepath.Abs(s.cfg.PluginDir)
	if !within(s.pluginDir, p) && !within(dirAbs, p) {
		return "", fmt.Errorf("%w: config file %s is not under the plugin dir %s", errForbidden, name, s.pluginDir)
	}
	real, err := resolve(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", host.ErrConfigRead, err)
	}
	if !within(s.pluginDir, real) {
		return "", fmt.Errorf("%w: config file %s resolves to %s, which is not under the plugin dir %s", errForbidden, name, real, s.pluginDir)
	}
	return real, nil
}

// within reports whether path lies strictly under dir (both clean and absolute).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." || filepath.IsAbs(rel) {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// auth requires the bearer token (when one is configured).
func (s *Server) auth(next http.HandlerFunc) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipstream"`)
			s.fail(w, r, fmt.Errorf("%w: missing bearer token (Authorization: Bearer TOKEN)", errUnauthorized))
			return
		}
		// Hashing first makes the comparison constant-time in the token's length too.
		got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipstream", error="invalid_token"`)
			s.fail(w, r, fmt.Errorf("%w: wrong bearer token", errUnauthorized))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// guardChange refuses, on the routes that change something, the requests a web page open
// in a browser on this machine could send without the user knowing (cross-site request
// forgery, which matters most with no token: --admin-insecure):
//
//   - a request from another origin: an Origin header whose host and port are not the
//     Host the request was sent to (the server's own loopback address), or a browser's
//     Sec-Fetch-Site saying cross-site or same-site (403). Clients that send neither
//     header (curl, scripts, other programs) are not browsers and pass;
//   - a body that is not application/json (415): a page can POST text/plain or a form to
//     any address without asking, but not JSON.
func (s *Server) guardChange(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			s.fail(w, r, fmt.Errorf("%w: cross-origin request refused: Origin %q is not this server (http://%s); changes are accepted only from the server's own origin or from clients that send no Origin", errForbidden, o, r.Host))
			return
		}
		s.fail(w, r, fmt.Errorf("%w: cross-origin request refused (Sec-Fetch-Site: %s): changes are accepted only from the server's own origin or from clients that are not browsers", errForbidden, r.Header.Get("Sec-Fetch-Site")))
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // a body, or one of unknown length
			ct := r.Header.Get("Content-Type")
			mt, _, err := mime.ParseMediaType(ct)
			if ct == "" || err != nil || mt != "application/json" {
				what := "no Content-Type"
				if ct != "" {
					what = fmt.Sprintf("Content-Type %q", ct)
				}
				s.fail(w, r, fmt.Errorf("%w: %s: the body must be JSON, sent with Content-Type: application/json", errMediaType, what))
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}

// checkHost refuses, unless remote access is allowed, requests whose Host header is not a
// loopback name: a web page that rebinds its DNS name to 127.0.0.1 cannot read the API.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if s.cfg.AllowRemote {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Host
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		s.mu.Lock()
		listen := s.listenHost
		s.mu.Unlock()
		ip := net.ParseIP(h)
		if !(ip != nil && ip.IsLoopback()) && !strings.EqualFold(h, "localhost") && !(listen != "" && strings.EqualFold(h, listen)) {
			s.fail(w, r, fmt.Errorf("%w: Host %q is not a loopback name", errForbidden, r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodeBody reads a JSON object into v: at most MaxBodyBytes, no unknown field, nothing
// after it. With optional, an empty body leaves v as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("%w: the limit is %d bytes", errTooLarge, tooLarge.Limit)
		}
		return fmt.Errorf("%w: reading the body: %w", errBadRequest, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if optional {
			return nil
		}
		return fmt.Errorf("%w: empty body; send {\"config_file\": \"…\"}", errBadRequest)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: invalid JSON: %w", errBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: invalid JSON: data after the object", errBadRequest)
	}
	return nil
}

// fail writes err as {"error": …} with its status, and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	ev := s.log.Warn()
	if status >= 500 {
		ev = s.log.Error()
	}
	ev.Err(err).Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).Str("remote", r.RemoteAddr).
		Msg("admin: request failed")
	writeJSON(w, status, ErrorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing to do
}

// statusWriter records the status a handler wrote, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logged logs each request at debug level (errors are logged by fail).
func (s *Server) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", sw.status).
			Dur("took", time.Since(t0)).Str("remote", r.RemoteAddr).Msg("admin: request")
	})
}

// promLogger sends promhttp's errors to the server's logger.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Error().Msg(fmt.Sprint(v...)) }
