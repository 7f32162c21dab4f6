// Package cli implements the slipstream command: `replay` (drive a finalize.Store from a
// chain file or a synthetic chain, feeding Slipstream plugins), `gen` (write a synthetic
// chain), `check` (load plugins in a child process and describe them), `history` (query
// the history plugin's database) and `help`.
//
// cmd/slipstream's main only calls [Main]; tests run the same code in-process with
// [App.Run] and, for what needs a process of its own (signals, crashing plugins), the
// built binary.
//
// # Exit codes
//
//	0    success (also --help)
//	1    runtime failure: a malformed input line, a chain operation the store refuses,
//	     a plugin with error_policy "halt" failed, a history query failed
//	2    usage error, or a plugin config or library that does not load (also a plugin
//	     that crashes while `check` loads it)
//	130  replay interrupted by SIGINT or SIGTERM (it stopped after the current block,
//	     unloaded the plugins and printed the summary)
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
// ctx being cancelled interrupts a replay the way SIGINT does.
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
	case sampleKeyCmd:
		return a.sampleKey(rest)
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			fmt.Fprint(a.Stdout, mainUsage)
			return ExitOK
		}
		if rest[0] == "help" {
			fmt.Fprint(a.Stdout, mainUsage)
			return ExitOK
		}
		// The command's own --help prints its usage (on stderr, as flag does; copy it to
		// stdout for `help CMD`, which the user asked for explicitly).
		sub := &App{Stdout: a.Stdout, Stderr: a.Stdout, Executable: a.Executable, Terminal: a.Terminal}
		switch rest[0] {
		case "replay", "gen", "check", "history":
			return sub.Run(ctx, []string{rest[0], "--help"})
		}
		fmt.Fprintf(a.Stderr, "slipstream help: unknown command %q\n\n%s", rest[0], mainUsage)
		return ExitUsage
	case "version", "--version":
		fmt.Fprintln(a.Stdout, versionString())
		return ExitOK
	}
	fmt.Fprintf(a.Stderr, "slipstream: unknown command %q\n\n%s", cmd, mainUsage)
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
// flags (except those named in hidden).
func (a *App) newFlagSet(name, text string, hidden ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("slipstream "+name, flag.ContinueOnError)
	fs.SetOutput(a.Stderr)
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
// ExitOK for --help, ExitUsage for a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return 0, true
}

// usageError prints msg and the command's usage, and returns ExitUsage.
func (a *App) usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(a.Stderr, "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return ExitUsage
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
