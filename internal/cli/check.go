package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

const checkUsage = `Usage: slipstream check [--in-process] CFG [CFG ...]

Loads each plugin config the way a node would (host.Manager.LoadPlugin: config parsing,
file permissions, hash pin, ABI version, _create_plugin, and the plugin's on_load, which
runs its own code: it may open files or databases as it would in the node), prints the
plugin's name, config file, library path, ABI version and subscriptions, then unloads it
(the plugin's on_unload and destroy run, and the library is closed). No event is
delivered. The plugin author's first tool.

Each plugin is loaded in a child process (this program, as for a plugin with isolation
"process"), so that a plugin that crashes, exits or hangs while loading or unloading (a
segfault in _create_plugin, on_load or on_unload) is reported instead of taking the shell's
command down: in a node the same crash would kill the node, since a plugin runs in the
node's process. --in-process skips the child.

Exit status: 0 every plugin loads and unloads cleanly; 2 a plugin does not load, fails
while unloading (on_unload panicked or logged an error, the library did not close) or
crashed, exited or hung (the reason is printed; a plugin that exits with a status above 2
gives that status); 1 the child could not be run; 130 interrupted by SIGINT
or SIGTERM (the check running then is stopped, the rest are not run).

Example:
  slipstream check build/demo/history.json5 build/demo/events.json5
`

func (a *App) check(ctx context.Context, args []string) int {
	fs := a.newFlagSet("check", checkUsage)
	inProcess := fs.Bool("in-process", false, "load the plugins in this process (a crashing plugin kills it)")
	logLevel := fs.String("log-level", "warn", "log level on stderr: "+logLevels)
	if code, ok := a.parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		return a.usageError(fs, "no config file given")
	}
	if _, err := newLogger(io.Discard, *logLevel, false); err != nil {
		return a.usageError(fs, "%v", err)
	}
	code := ExitOK
	for i, cfg := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(a.Stdout)
		}
		c := a.checkOne(ctx, cfg, *logLevel, !*inProcess)
		if c == ExitInterrupted {
			return c
		}
		code = max(code, c)
	}
	return code
}

// checkOne loads one config, describes the plugin and unloads it: isolated, in a child
// process of the host (host.WithIsolation: this program, which serves as the child through
// host.ServeIsolated), else in this process.
func (a *App) checkOne(ctx context.Context, cfg, logLevel string, isolated bool) int {
	log, _ := newLogger(a.Stderr, logLevel, a.isTerminal())
	opts := []host.Option{host.WithLogger(log)}
	if isolated {
		opts = append(opts, host.WithIsolation(host.IsolationProcess), host.WithChildContext(ctx))
		if a.Executable != "" {
			opts = append(opts, host.WithChildExecutable(a.Executable))
		}
	}
	mgr := host.NewManager(opts...)
	defer mgr.Unload()
	name, err := mgr.LoadPlugin(cfg)
	if err != nil {
		if code, ok := a.checkChildFailed(ctx, cfg, "loading", err); ok {
			return code
		}
		fmt.Fprintf(a.Stderr, "slipstream check: %v\n", err)
		return ExitUsage
	}
	info, _ := mgr.Plugin(name)
	subs := strings.Join(kindNames(info.Subscriptions), ", ")
	if subs == "" {
		subs = "(none: the plugin will receive no event)"
	}
	keys := "(none)"
	var suspicious []string
	if c, err := host.LoadConfig(cfg); err == nil {
		if len(c.PluginKeys()) > 0 {
			keys = strings.Join(c.PluginKeys(), ", ")
		}
		suspicious = c.Suspicious()
	}
	w := a.Stdout
	fmt.Fprintf(w, "plugin         %s\n", info.Name)
	fmt.Fprintf(w, "config         %s\n", info.ConfigFile)
	fmt.Fprintf(w, "plugin keys    %s\n", keys)
	for _, s := range suspicious {
		fmt.Fprintf(w, "warning        %s\n", s)
	}
	fmt.Fprintf(w, "library        %s\n", info.Path)
	fmt.Fprintf(w, "abi            %s (host %s)\n", abi.VersionString(info.ABIVersion), abi.VersionString(abi.Version))
	fmt.Fprintf(w, "subscriptions  %s\n", subs)
	fmt.Fprintf(w, "error_policy   %s\n", info.ErrorPolicy)
	fmt.Fprintf(w, "delivery       %s\n", info.Delivery)
	// UnloadPlugin returns what went wrong in on_unload, destroy and the library's close
	// (or in the child process meanwhile).
	if err := mgr.UnloadPlugin(name); err != nil {
		if code, ok := a.checkChildFailed(ctx, cfg, "unloading", err); ok {
			return code
		}
		msg := err.Error()
		if le := (*host.LoadError)(nil); errors.As(err, &le) {
			msg = le.Err.Error()
		}
		fmt.Fprintf(w, "status         FAILED while unloading\n")
		fmt.Fprintf(a.Stderr, "slipstream check: %s: plugin %s failed while unloading: %s (in a node it might not flush its data)\n",
			cfg, name, msg)
		return ExitUsage
	}
	fmt.Fprintf(w, "status         ok (loaded and unloaded cleanly)\n")
	return ExitOK
}

// checkChildFailed reports a child process of the host that crashed, exited, hung or was
// stopped (SIGINT or SIGTERM reached this process: ctx is Main's signal context) while
// loading or unloading the plugin, and returns check's exit code; ok is false for any
// other error.
func (a *App) checkChildFailed(ctx context.Context, cfg, stage string, err error) (code int, ok bool) {
	var ce *host.ChildError
	if !errors.As(err, &ce) {
		if errors.Is(err, host.ErrChildProcess) { // not started, or not a plugin child
			fmt.Fprintf(a.Stderr, "slipstream check: %s: cannot run the check process: %v\n", cfg, err)
			return ExitFailure, true
		}
		return 0, false
	}
	if ce.Stopped || ctx.Err() != nil {
		why := "interrupted"
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() { // "interrupt signal received"
			why = "interrupted (" + cause.Error() + ")"
		}
		fmt.Fprintf(a.Stderr, "slipstream check: %s: %s while %s: the check was stopped, the plugin did not crash\n", cfg, why, stage)
		return ExitInterrupted, true
	}
	if ce.LastOutput != "" {
		fmt.Fprintf(a.Stderr, "  | %s\n", ce.LastOutput)
	}
	sig := ce.Signal
	if sig == "" && ce.ExitCode > 0 {
		sig, _ = exceptionName(ce.ExitCode)
	}
	switch {
	case sig != "":
		fmt.Fprintf(a.Stderr, "slipstream check: %s: plugin crashed while %s: signal %s (the plugin runs in the node's process: this would have crashed the node)\n",
			cfg, stage, sig)
		return ExitUsage, true
	case ce.Hung:
		fmt.Fprintf(a.Stderr, "slipstream check: %s: plugin hung while %s: %s (in a node it would hold up the node)\n", cfg, stage, ce.Cause)
		return ExitUsage, true
	default:
		fmt.Fprintf(a.Stderr, "slipstream check: %s: plugin ended the process while %s: %s (the plugin runs in the node's process: this would have ended the node)\n",
			cfg, stage, ce.Cause)
		return max(ce.ExitCode, ExitUsage), true
	}
}
