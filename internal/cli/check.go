package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
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

Each plugin is loaded in a child process (this program re-executed), so that a plugin that
crashes while loading or unloading (a segfault in _create_plugin, on_load or on_unload) is
reported instead of taking the shell's command down: in a node the same crash would kill
the node, since a plugin runs in the node's process. --in-process skips the child.

Exit status: 0 every plugin loads and unloads cleanly; 2 a plugin does not load, fails
while unloading (on_unload panicked or logged an error, the library did not close) or
crashed (the reason is printed); 1 the child could not be run; 130 interrupted by SIGINT
or SIGTERM (the check running then is stopped, the rest are not run).

Example:
  slipstream check build/demo/history.json5 build/demo/events.json5
`

// checkChildFlag is the hidden flag that makes `check` the child that loads one config.
const checkChildFlag = "child"

func (a *App) check(ctx context.Context, args []string) int {
	fs := a.newFlagSet("check", checkUsage, checkChildFlag)
	inProcess := fs.Bool("in-process", false, "load the plugins in this process (a crashing plugin kills it)")
	child := fs.Bool(checkChildFlag, false, "internal: the child process of check")
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
	if *child || *inProcess {
		code := ExitOK
		for i, cfg := range fs.Args() {
			if i > 0 {
				fmt.Fprintln(a.Stdout)
			}
			code = max(code, a.checkOne(cfg, *logLevel))
		}
		return code
	}
	exe := a.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			fmt.Fprintf(a.Stderr, "slipstream check: cannot find this program to run the check: %v (try --in-process)\n", err)
			return ExitFailure
		}
	}
	code := ExitOK
	for i, cfg := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(a.Stdout)
		}
		c := a.checkChild(ctx, exe, cfg, *logLevel)
		if c == ExitInterrupted {
			return c
		}
		code = max(code, c)
	}
	return code
}

// checkOne loads one config in this process, describes the plugin and unloads it.
func (a *App) checkOne(cfg, logLevel string) int {
	log, _ := newLogger(a.Stderr, logLevel, a.isTerminal())
	mgr := host.NewManager(host.WithLogger(log))
	defer mgr.Unload()
	name, err := mgr.LoadPlugin(cfg)
	if err != nil {
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
	// Shutdown rather than UnloadPlugin: it returns the plugin's description as it stands
	// after on_unload, destroy and the library's close, with what went wrong there.
	infos := mgr.Shutdown()
	if len(infos) == 1 && infos[0].UnloadError != "" {
		fmt.Fprintf(w, "status         FAILED while unloading\n")
		fmt.Fprintf(a.Stderr, "slipstream check: %s: plugin %s failed while unloading: %s (in a node it might not flush its data)\n",
			cfg, name, infos[0].UnloadError)
		return ExitUsage
	}
	fmt.Fprintf(w, "status         ok (loaded and unloaded cleanly)\n")
	return ExitOK
}

// goFatalSignal matches the Go runtime's report of a fatal signal: a fault in the plugin's
// C code, which the runtime sees as a cgo call ("SIGSEGV: segmentation violation" at the
// start of a line, then "signal arrived during cgo execution"), or in Go code
// ("[signal SIGSEGV: segmentation violation …]").
var goFatalSignal = regexp.MustCompile(`(?m)(?:^|\[signal )(SIG[A-Z0-9]+): `)

// checkChild runs `check --child cfg` in a child process and reports how it ended.
func (a *App) checkChild(ctx context.Context, exe, cfg, logLevel string) int {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "check", "--"+checkChildFlag, "--log-level", logLevel, "--", cfg)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	a.Stdout.Write(stdout.Bytes())
	if ctx.Err() != nil {
		// SIGINT or SIGTERM reached this process (ctx is Main's signal context): the child
		// was killed for it, the plugin did not crash.
		a.Stderr.Write(stderr.Bytes())
		why := "interrupted"
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() { // "interrupt signal received"
			why = "interrupted (" + cause.Error() + ")"
		}
		fmt.Fprintf(a.Stderr, "slipstream check: %s: %s while %s: the check was stopped, the plugin did not crash\n",
			cfg, why, checkStage(stdout.Bytes()))
		return ExitInterrupted
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		a.Stderr.Write(stderr.Bytes())
		fmt.Fprintf(a.Stderr, "slipstream check: %s: cannot run the check process %s: %v\n", cfg, exe, err)
		return ExitFailure
	}
	if err == nil {
		a.Stderr.Write(stderr.Bytes())
		return ExitOK
	}
	// The Go runtime reports a fault in the plugin's code and exits with status 2 (or, with
	// GOTRACEBACK=crash, dies of SIGABRT): its report names the original signal.
	var sig string
	crashed := false
	if m := goFatalSignal.FindSubmatch(stderr.Bytes()); m != nil {
		sig, crashed = string(m[1]), true
	} else {
		sig, crashed = signalOf(ee.ProcessState)
	}
	if !crashed {
		a.Stderr.Write(stderr.Bytes())
		return max(ee.ExitCode(), ExitUsage)
	}
	stage := checkStage(stdout.Bytes())
	// The runtime's goroutine dump is of no use to a plugin author: keep its first lines.
	for i, line := range strings.SplitN(stderr.String(), "\n", 4) {
		if i < 3 && strings.TrimSpace(line) != "" {
			fmt.Fprintf(a.Stderr, "  | %s\n", line)
		}
	}
	fmt.Fprintf(a.Stderr, "slipstream check: %s: plugin crashed while %s: signal %s (the plugin runs in the node's process: this would have crashed the node)\n",
		cfg, stage, sig)
	return ExitUsage
}

// checkStage tells from what a check child printed whether it was loading or unloading
// the plugin: the description is printed once the plugin is loaded.
func checkStage(stdout []byte) string {
	if bytes.Contains(stdout, []byte("\nsubscriptions ")) {
		return "unloading"
	}
	return "loading"
}
