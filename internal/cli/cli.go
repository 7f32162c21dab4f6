// Package cli implements the slipstream command: `replay` (drive a finalize.Store from a
// chain file or a synthetic chain, feeding Slipstream plugins), `gen` (write a synthetic
// chain), `check` (load plugins in a child process and describe them), `history` (query
// the history plugin's database), `tail` (print what the built-in nats plugin published)
// and `help`. The command registers its built-in Go plugins (builtin: "nats") with host.
//
// cmd/slipstream's main only calls [Main]; tests run the same code in-process with
// [App.Run] and, for what needs a process of its own (signals, crashing plugins), the
// built binary.
//
// # Exit codes
//
//	0    success (also --help, which prints the usage on stdout)
//	1    runtime failure: a malformed input line, a chain operation the store refuses,
//	     a plugin with error_policy "halt" failed (sync or async), a plugin failed while
//	     replay unloaded it, a history query failed
//	2    usage error (one line saying what is wrong and a hint to --help, on stderr), or a
//	     plugin config or library that does not load (also a plugin that crashes while
//	     `check` loads it, or fails while `check` unloads it)
//	130  interrupted by SIGINT or SIGTERM: replay stopped after the current block,
//	     unloaded the plugins and printed the summary; check stopped the plugin it was
//	     checking, tail stopped reading
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/slipstream-go/slipstream/internal/chain"
	"golang.org/x/term"
)

// Exit codes of the command.
const (
	ExitOK          = 0   // success
	ExitFailure     = 1   // runtime failure
	ExitUsage       = 2   // usage error, or a plugin that does not load
	ExitInterrupted = 130 // replay stopped by SIGINT/SIGTERM (128 + SIGINT)
)

// App is one invocation's environment. The zero value is not usable: set Stdout and
// Stderr (Main uses the process's).
type App struct {
	Stdout io.Writer
	Stderr io.Writer
	// Executable is the slipstream binary that `check` runs as its child; "" means
	// os.Executable(). Tests running in-process set it to a built binary.
	Executable string
	// Terminal reports whether Stderr is an interactive terminal (progress bar, console
	// logs). Nil means: Stderr is an *os.File that term.IsTerminal accepts.
	Terminal func() bool
}

const mainUsage = `Usage: slipstream <command> [flags] [args]

Slipstream feeds the changes a node's block finalization makes (mapping updates and
removals, staking rewards, committed blocks) to plugins loaded from shared libraries.

Commands:
  replay    replay a chain (NDJSON file or synthetic) into plugins, print a summary
  gen       write a synthetic, realistic Aleo-like chain as NDJSON
  check     load plugins (in a child process) and print what they are
  history   query the history plugin's database: a key's value at a height
  tail      print the events the nats plugin published to JetStream, as NDJSON
  help      show the help of a command

Run 'slipstream help <command>' or 'slipstream <command> --help' for its flags.

Example:
  slipstream gen --blocks 1000 --seed 7 -o chain.ndjson
  slipstream check history.json5
  slipstream replay --plugin history.json5 --input chain.ndjson
`

// Main runs the command with the process's arguments, standard streams and signals, and
// returns the exit code. The first SIGINT or SIGTERM asks a running replay to stop after
// the current block; a second one kills the process (the default action).
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default action: a second signal ends the process at once
	}()
	a := &App{Stdout: os.Stdout, Stderr: os.Stderr}
	return a.Run(ctx, os.Args[1:])
}

// Run runs the command line args (without the program name) and returns the exit code.
// ctx being cancelled interrupts a replay or a check the way SIGINT does.
func (a *App) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.Stderr, mainUsage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "replay":
		return a.replay(ctx, rest)
	case "gen":
		return chain.GenMain(rest, a.Stdout, a.Stderr)
	case "check":
		return a.check(ctx, rest)
	case "history":
		return a.history(ctx, rest)
	case "tail":
		return a.tail(ctx, rest)
	case sampleKeyCmd:
		return a.sampleKey(rest)
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 || rest[0] == "help" {
			fmt.Fprint(a.Stdout, mainUsage)
			return ExitOK
		}
		switch rest[0] {
		case "replay", "gen", "check", "history", "tail":
			return a.Run(ctx, []string{rest[0], "--help"})
		}
		return a.mainUsageError("help: unknown command %q", rest[0])
	case "version", "--version":
		fmt.Fprintln(a.Stdout, versionString())
		return ExitOK
	}
	return a.mainUsageError("unknown command %q", cmd)
}

// mainUsageError reports a usage error of the command itself (not of a subcommand) on one
// line, with a hint, and returns ExitUsage.
func (a *App) mainUsageError(format string, args ...any) int {
	fmt.Fprintf(a.Stderr, "slipstream: %s\n", fmt.Sprintf(format, args...))
	fmt.Fprintln(a.Stderr, "run 'slipstream --help' for the commands")
	return ExitUsage
}

// isTerminal reports whether Stderr is an interactive terminal.
func (a *App) isTerminal() bool {
	if a.Terminal != nil {
		return a.Terminal()
	}
	f, ok := a.Stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newFlagSet returns a FlagSet for a subcommand whose usage prints text and then the
// flags (except those named in hidden). Parse it with parseFlags: --help prints the usage
// on stdout, a bad flag one line and a hint on stderr.
func (a *App) newFlagSet(name, text string, hidden ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("slipstream "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags reports what Parse finds
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		printDefaults(fs, hidden)
	}
	return fs
}

// printDefaults is flag.PrintDefaults without the hidden flags.
func printDefaults(fs *flag.FlagSet, hidden []string) {
	tmp := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	tmp.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		for _, h := range hidden {
			if f.Name == h {
				return
			}
		}
		tmp.Var(f.Value, f.Name, f.Usage)
		tmp.Lookup(f.Name).DefValue = f.DefValue
	})
	tmp.PrintDefaults()
}

// parseFlags parses args into fs. It returns (code, false) when the command must stop:
// ExitOK for --help (the usage printed on stdout), ExitUsage for a bad flag (reported as
// usageError does).
func (a *App) parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(a.Stdout)
			fs.Usage()
			fs.SetOutput(io.Discard)
			return ExitOK, false
		}
		return a.usageError(fs, "%v", err), false
	}
	return 0, true
}

// usageError prints msg on one line and a hint to the command's --help on the next, and
// returns ExitUsage. The whole usage is for --help: an error must not drown in it.
func (a *App) usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(a.Stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(a.Stderr, "run '%s --help' for its usage\n", fs.Name())
	return ExitUsage
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
