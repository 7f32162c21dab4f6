package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/admin"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/host"
)

// adminTokenEnv is the environment variable holding the admin token when no
// --admin-token-file is given.
const adminTokenEnv = "SLIPSTREAM_ADMIN_TOKEN"

// adminOpts are replay's admin API flags (package admin).
type adminOpts struct {
	addr        string
	tokenFile   string
	insecure    bool
	allowRemote bool
	pluginDir   string
}

func (o *adminOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "admin", "", "serve the admin API and /metrics on this address while replaying (e.g. 127.0.0.1:9464; port 0 picks one)")
	fs.StringVar(&o.tokenFile, "admin-token-file", "", "file holding the admin bearer token (default: $"+adminTokenEnv+")")
	fs.BoolVar(&o.insecure, "admin-insecure", false, "allow the admin API without a token (anyone who reaches the port can load plugins)")
	fs.BoolVar(&o.allowRemote, "admin-allow-remote", false, "allow a non-loopback --admin address (reads then need the token too)")
	fs.StringVar(&o.pluginDir, "plugin-dir", "", "directory whose plugin configs the admin API may load (default: none)")
}

// check validates the flags' combination (usage errors).
func (o *adminOpts) check() error {
	if o.addr == "" && (o.tokenFile != "" || o.insecure || o.allowRemote || o.pluginDir != "") {
		return errors.New("--admin-token-file, --admin-insecure, --admin-allow-remote and --plugin-dir need --admin ADDR")
	}
	return nil
}

// start serves the admin API for mgr and store until the returned stop is called; without
// --admin it does nothing.
func (o *adminOpts) start(mgr *host.Manager, store *finalize.Store, log zerolog.Logger, stderr io.Writer) (stop func(), err error) {
	if o.addr == "" {
		return func() {}, nil
	}
	token, err := admin.TokenFromFileOrEnv(o.tokenFile, adminTokenEnv)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	srv, err := admin.New(admin.Config{
		Manager:     mgr,
		Store:       store,
		Token:       token,
		PluginDir:   o.pluginDir,
		AllowRemote: o.allowRemote,
		Insecure:    o.insecure,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	addr, err := srv.Start(o.addr)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	// On stderr whatever the log level: a script that asked for port 0 needs the port.
	fmt.Fprintf(stderr, "slipstream replay: admin API listening on http://%s\n", addr)
	log.Info().Stringer("addr", addr).Msg("admin API listening")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn().Err(err).Msg("admin API shutdown")
		}
	}, nil
}
