package chain

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/slipstream-go/slipstream/internal/iocount"
)

const genUsage = `Usage: slipstream gen [flags]

Writes a synthetic, realistic Aleo-like chain as NDJSON, one block per line (the format
replay --input reads): credits.aleo mappings (committee, delegated, metadata, bonded,
withdraw, account) and a few token programs, 32-byte address keys with power-law reuse,
u64/u128 little-endian values, inserts, updates, removals, mapping replacements, rare
mapping and program removals, aborted blocks, and staking rewards every block.
The same flags and seed give the same file, byte for byte.

Flags:
`

const genExample = `
Example:
  slipstream gen --blocks 3000 --ops 32 --stakers 100 --seed 7 -o chain.ndjson
`

// GenMain runs `slipstream gen` with args (without the subcommand's name): it parses the
// flags, generates the chain and writes it to -o (default stdout). It returns the exit code:
// 0 on success and for -h/--help (the usage, on stdout), 2 for a usage error (one line and
// a hint on stderr), 1 when generating or writing fails. Messages go to stderr.
func GenMain(args []string, stdout, stderr io.Writer) int {
	d := DefaultGenConfig()
	fs := flag.NewFlagSet("slipstream gen", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // --help goes to stdout, a usage error is one line and a hint
	usageError := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "slipstream gen: %s\nrun 'slipstream gen --help' for its usage\n", fmt.Sprintf(format, args...))
		return 2
	}
	cfg := d
	var out string
	var quiet bool
	fs.IntVar(&cfg.Blocks, "blocks", d.Blocks, "number of blocks")
	fs.IntVar(&cfg.OpsPerBlock, "ops", d.OpsPerBlock, "finalize operations per block (after the genesis block)")
	fs.IntVar(&cfg.Stakers, "stakers", d.Stakers, "stakers (validators included) receiving rewards every block")
	fs.IntVar(&cfg.Validators, "validators", d.Validators, "validators among the stakers (0: stakers/20, between 1 and 16)")
	fs.Uint64Var(&cfg.Seed, "seed", d.Seed, "random seed")
	fs.Float64Var(&cfg.AbortRate, "abort-rate", d.AbortRate, "probability that a block's batch is aborted")
	fs.IntVar(&cfg.BlockSize, "block-size", d.BlockSize, "bytes of each block's blob")
	fs.IntVar(&cfg.TokenPrograms, "token-programs", d.TokenPrograms, "token programs besides credits.aleo")
	fs.IntVar(&cfg.KeySpace, "key-space", d.KeySpace, "distinct keys per large mapping")
	start := fs.Uint("start-height", uint(d.StartHeight), "height of the first block")
	fs.StringVar(&out, "o", "-", "output file (- for stdout)")
	fs.BoolVar(&quiet, "q", false, "do not print the summary line on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), genUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), genExample)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if *start > 1<<32-1 {
		return usageError("-start-height %d is beyond 2^32-1", *start)
	}
	cfg.StartHeight = uint32(*start)
	if err := cfg.Validate(); err != nil {
		return usageError("%v", err)
	}

	var dst io.Writer = stdout
	var f *os.File
	if out != "-" && out != "" {
		var err error
		if f, err = os.Create(out); err != nil {
			fmt.Fprintf(stderr, "slipstream gen: %v\n", err)
			return 1
		}
		dst = f
	}
	cw := &iocount.Writer{W: dst}
	bw := bufio.NewWriterSize(cw, 1<<20)
	w := NewWriter(bw)
	began := time.Now()
	err := Generate(cfg, w.Write)
	if err == nil {
		err = bw.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "slipstream gen: %v\n", err)
		return 1
	}
	if !quiet {
		el := time.Since(began)
		name := out
		if f == nil {
			name = "stdout"
		}
		fmt.Fprintf(stderr, "slipstream gen: wrote %d blocks (%.1f MiB) to %s in %v\n",
			cfg.Blocks, float64(cw.N)/(1<<20), name, el.Round(time.Millisecond))
	}
	return 0
}
