package admin

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/host"
)

// MaxBodyBytes is the largest request body the server reads; a larger one gets 413.
const MaxBodyBytes = 64 << 10

// StatsSource supplies the store counters of /metrics; *finalize.Store implements it.
type StatsSource interface {
	Stats() finalize.Stats
}

var _ StatsSource = (*finalize.Store)(nil)

// Config configures a Server.
type Config struct {
	// Manager is the plugin manager the API drives. Required.
	Manager *host.Manager
	// Store supplies the slipstream_store_* metrics; nil leaves them out.
	Store StatsSource
	// Token is the bearer token that changes (and, with AllowRemote, reads) need. Empty is
	// refused unless Insecure.
	Token string
	// PluginDir is the directory config files loaded through the API must lie under
	// (after resolving symlinks). Empty: POST /plugins and PUT with a config_file are refused.
	PluginDir string
	// AllowRemote lets Start bind a non-loopback address, and makes reads need the token.
	AllowRemote bool
	// Insecure allows an empty Token: no authentication at all (refused with AllowRemote).
	// A non-empty Token is enforced regardless.
	Insecure bool
	// Logger receives one line per request that changes something (info) or fails (warn),
	// and the others at debug level. The zero value logs nothing.
	Logger zerolog.Logger
}

// Server is the admin HTTP server. Create it with New, then Start it; its methods are safe
// for concurrent use.
type Server struct {
	cfg       Config
	pluginDir string // PluginDir, absolute with symlinks resolved; "" if not set
	log       zerolog.Logger
	handler   http.Handler
	registry  *prometheus.Registry

	mu         sync.Mutex
	srv        *http.Server
	addr       net.Addr
	listenHost string // the host part given to Start, accepted in Host headers
	done       chan struct{}
}

// New checks cfg and returns a server, not yet listening. It fails without a Manager,
// with an empty Token unless Insecure (and always with AllowRemote), with a Token holding
// white space, and with a PluginDir that is not a directory.
func New(cfg Config) (*Server, error) {
	if cfg.Manager == nil {
		return nil, errors.New("admin: Config.Manager is nil")
	}
	if cfg.Token == "" && !cfg.Insecure {
		return nil, errors.New("admin: no token: set one (--admin-token-file or its environment variable), or run insecure (--admin-insecure) to accept changes from anyone who can reach the port")
	}
	if cfg.Token == "" && cfg.AllowRemote {
		return nil, errors.New("admin: remote access (--admin-allow-remote) needs a token, even with --admin-insecure")
	}
	if strings.TrimSpace(cfg.Token) != cfg.Token || strings.ContainsAny(cfg.Token, " \t\r\n") {
		return nil, errors.New("admin: the token must not contain white space")
	}
	if st, ok := cfg.Store.(*finalize.Store); ok && st == nil {
		cfg.Store = nil // a nil *finalize.Store in the interface
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if cfg.PluginDir != "" {
		dir, err := resolve(cfg.PluginDir)
		if err != nil {
			return nil, fmt.Errorf("admin: plugin dir: %w", err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("admin: plugin dir: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("admin: plugin dir %s is not a directory", dir)
		}
		s.pluginDir = dir
	}
	s.registry = prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		NewCollector(cfg.Manager, cfg.Store),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := s.registry.Register(c); err != nil {
			return nil, fmt.Errorf("admin: registering metrics: %w", err)
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's routes, with authentication and the Host check, for a node
// that serves them itself (Start is the usual way).
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the Prometheus registry behind /metrics, for a node that adds
// collectors of its own.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Start binds addr ("host:port"; port 0 picks a free one) and serves in a goroutine of its
// own. It returns the bound address. Without Config.AllowRemote it refuses an address that
// is not loopback (an empty host, 0.0.0.0 and :: included). A server starts once.
func (s *Server) Start(addr string) (net.Addr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen address %q: %w", addr, err)
	}
	if !s.cfg.AllowRemote {
		if err := checkLoopback(context.Background(), host); err != nil {
			return nil, fmt.Errorf("admin: listen address %q: %w", addr, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil, errors.New("admin: server already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute, // a plugin's on_load may take its time
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          stdlog.New(s.log.With().Str("component", "admin-http").Logger(), "", 0),
	}
	s.addr = ln.Addr()
	s.listenHost = host
	s.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("admin: server stopped")
		}
	}(s.srv, s.done)
	s.log.Info().Stringer("addr", s.addr).Bool("auth", s.cfg.Token != "").Str("plugin_dir", s.pluginDir).
		Msg("admin API listening")
	return s.addr, nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting connections and waits, until ctx ends, for the requests under
// way to finish. It does nothing if the server was not started.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	<-done
	return nil
}

// Close closes the listener and every connection at once, without waiting for requests
// under way. It does nothing if the server was not started.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Close(); err != nil {
		return fmt.Errorf("admin: close: %w", err)
	}
	<-done
	return nil
}

// checkLoopback returns nil if host (an IP address or a name) designates only loopback
// addresses; a name is resolved.
func checkLoopback(ctx context.Context, host string) error {
	if host == "" {
		return errors.New("an empty host listens on every interface; use 127.0.0.1 (or allow remote access)")
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address; use 127.0.0.1 or ::1 (or allow remote access)", host)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%s resolves to no address", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("%s resolves to %s, which is not a loopback address (or allow remote access)", host, a.IP)
		}
	}
	return nil
}

// TokenFromFileOrEnv returns the admin token: the content of file if file is not "",
// else the value of the environment variable envVar if envVar is not "" and set, else "".
// Surrounding white space (a file's trailing newline) is trimmed; a file or variable that
// is set but holds no token is an error. Keep a token file readable by the node's user only.
func TokenFromFileOrEnv(file, envVar string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("admin: reading the token file: %w", err)
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("admin: token file %s is empty", file)
		}
		return tok, nil
	}
	if envVar == "" {
		return "", nil
	}
	v, ok := os.LookupEnv(envVar)
	if !ok {
		return "", nil
	}
	tok := strings.TrimSpace(v)
	if tok == "" {
		return "", fmt.Errorf("admin: environment variable %s is set but empty", envVar)
	}
	return tok, nil
}

// resolve returns p made absolute with its symlinks resolved.
func resolve(p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(real)
}
