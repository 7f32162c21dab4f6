// Package admin serves the Slipstream admin API and Prometheus metrics over HTTP for a
// running node or replay: operators list, load, unload and reload plugins at run time and
// scrape per-plugin and per-store counters.
//
// # Usage
//
// This is how `slipstream replay --admin ADDR --admin-token-file F --admin-insecure
// --admin-allow-remote --plugin-dir D` wires it:
//
//	token, err := admin.TokenFromFileOrEnv(tokenFile, "SLIPSTREAM_ADMIN_TOKEN")
//	if err != nil { … }
//	srv, err := admin.New(admin.Config{
//		Manager:     manager,   // *host.Manager
//		Store:       store,     // *finalize.Store (for the store counters), or nil
//		Token:       token,     // "" is refused unless Insecure
//		PluginDir:   pluginDir, // config files loadable through the API lie under it
//		AllowRemote: allowRemote,
//		Insecure:    insecure,
//		Logger:      log,
//	})
//	if err != nil { … }
//	addr, err := srv.Start(adminAddr) // "127.0.0.1:9464"; port 0 picks a free port
//	if err != nil { … }
//	log.Info().Stringer("addr", addr).Msg("admin API listening")
//	defer srv.Shutdown(context.Background())
//
// Start binds the address and serves in a goroutine of its own; Shutdown stops accepting
// requests and waits for those under way (Close does not wait). Handler returns the
// routes for a node that serves them on a server of its own.
//
// # Endpoints
//
//	GET    /plugins         the loaded plugins, in load order (JSON array of Plugin)
//	GET    /plugins/{name}  one plugin (Plugin)
//	POST   /plugins         {"config_file": "…"}: load a plugin; 201 with its Plugin
//	PUT    /plugins/{name}  {"config_file": "…"} (optional: the current one): reload; 200 with its Plugin
//	DELETE /plugins/{name}  unload; 204
//	GET    /healthz         200 {"status":"ok"}; 503 {"status":"unhealthy","reasons":[…]} while a
//	                        plugin is disabled (error_policy disable) or failed (error_policy halt)
//	GET    /metrics         Prometheus text format (see NewCollector)
//
// # Security
//
//   - Changes (POST, PUT, DELETE) need `Authorization: Bearer TOKEN`, compared in constant
//     time. New refuses an empty token unless Config.Insecure is set; with Insecure and no
//     token, anyone who can reach the port can load any config under PluginDir; New
//     refuses that combined with AllowRemote.
//   - Reads (GET /plugins, /plugins/{name}, /metrics) are open while the server is only
//     reachable from this machine (the default), so that local tools and a local Prometheus
//     need no secret. With Config.AllowRemote they need the token too (a plugin list names
//     files of the host). GET /healthz never needs it (load balancers, probes).
//   - Start refuses an address that is not loopback (127.0.0.0/8, ::1, or a name such as
//     localhost that resolves only to those) unless Config.AllowRemote. Without AllowRemote,
//     requests whose Host header is not a loopback name are refused (403), which defeats
//     DNS-rebinding attacks from a browser on the same machine.
//   - A config file named in a request is resolved (relative names from PluginDir, then
//     filepath.EvalSymlinks and filepath.Abs) and must lie under PluginDir's resolved path:
//     `..` and symlinks pointing out are refused with 403. Without PluginDir nothing can be
//     loaded through the API; reloading a plugin from its current config (PUT without
//     config_file) is always allowed, since the operator chose that file. The libpath of
//     an accepted config is not restricted: the config's author (whoever can write
//     PluginDir) is trusted, the API caller only picks among their configs. Keep PluginDir
//     and its files not writable by others (the host refuses such files anyway).
//   - Changes refuse what a web page open in a browser on the same machine could send on
//     its own (cross-site request forgery; with Insecure nothing else would stop it): a
//     request with an Origin header whose host:port is not the Host it was sent to (the
//     server's own loopback address), or with Sec-Fetch-Site cross-site or same-site,
//     gets 403; a body that is not Content-Type application/json gets 415 (a page can
//     POST text/plain or a form anywhere without a CORS preflight, but not JSON).
//     Clients that send no Origin (curl, scripts) are not affected.
//   - Request bodies are limited to MaxBodyBytes.
//
// # Errors and status codes
//
// Every error is a JSON object {"error": "…"}:
//
//	400  malformed JSON, unknown field, missing config_file
//	401  missing or wrong bearer token (with WWW-Authenticate: Bearer)
//	403  config file outside PluginDir (or no PluginDir), Host header not loopback, a
//	     change from a foreign Origin
//	404  unknown plugin, unknown route
//	405  known route, wrong method (with Allow)
//	409  plugin already loaded (same name or same library: host.ErrAlreadyLoaded)
//	413  body larger than MaxBodyBytes
//	415  a change with a body that is not Content-Type application/json
//	422  the config or the plugin cannot be loaded: the request was well-formed, the
//	     plugin is not loadable (host.ErrConfigRead, ErrConfigSyntax, ErrConfigInvalid,
//	     ErrNoLibpath, ErrLibraryLoad, ErrSymbolMissing, ErrIncompatibleABI,
//	     ErrInvalidPlugin, ErrOnLoad, ErrInsecure, ErrHashMismatch). A failed reload keeps
//	     (restores) the old plugin, as host.Manager.ReloadPlugin does.
//	503  the manager is shut down (host.ErrClosed)
//	500  anything else
package admin
