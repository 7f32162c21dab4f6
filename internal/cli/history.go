package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slipstream-go/slipstream/historydb"
	"github.com/slipstream-go/slipstream/internal/chain"
)

const historyUsage = `Usage: slipstream history (--sqlite FILE | --postgres DSN [--schema S]) --program HEX --mapping HEX --key HEX --height H

Asks the history plugin's database (plugins/example_c) what key K of mapping M of program
P was at the end of block H, and prints the value as hex, or "absent" when the key did not
exist then (never written, removed, or its mapping removed). Program, mapping and key are
the node's byte encodings in hex (the chain file's encoding; a 0x prefix is accepted).
The SQLite and PostgreSQL drivers are pure Go.

Exit status: 0 a value or "absent" was printed; 1 the query failed; 2 usage error.

Example (credits.aleo / account):
  slipstream history --sqlite build/demo/history.db --program 637265646974732e616c656f \
    --mapping 6163636f756e74 --key 1f2e...(32 bytes) --height 1200
`

func (a *App) history(ctx context.Context, args []string) int {
	fs := a.newFlagSet("history", historyUsage)
	sqlitePath := fs.String("sqlite", "", "SQLite database file the plugin writes (its config key sqlite)")
	dsn := fs.String("postgres", "", "PostgreSQL connection string (its config key postgres)")
	schema := fs.String("schema", historydb.DefaultSchema, "PostgreSQL schema (its config key schema)")
	program := fs.String("program", "", "program id, hex (e.g. 637265646974732e616c656f for credits.aleo)")
	mapping := fs.String("mapping", "", "mapping name, hex (e.g. 6163636f756e74 for account)")
	key := fs.String("key", "", "key, hex")
	height := fs.String("height", "", "block height (the value at the end of that block)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if code, ok := a.parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return a.usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	if (*sqlitePath == "") == (*dsn == "") {
		return a.usageError(fs, "give exactly one of --sqlite and --postgres")
	}
	var p, m, k []byte
	for _, f := range []struct {
		name string
		val  string
		dst  *[]byte
	}{{"program", *program, &p}, {"mapping", *mapping, &m}, {"key", *key, &k}} {
		if f.val == "" {
			return a.usageError(fs, "--%s is required", f.name)
		}
		b, err := parseHex(f.val)
		if err != nil {
			return a.usageError(fs, "--%s: %v", f.name, err)
		}
		*f.dst = b
	}
	if *height == "" {
		return a.usageError(fs, "--height is required")
	}
	h, err := strconv.ParseUint(*height, 10, 32)
	if err != nil {
		return a.usageError(fs, "--height: %q is not a block height (0 … 4294967295)", *height)
	}
	if *sqlitePath != "" {
		// historydb.OpenSQLite needs the file to exist; say so plainly rather than let
		// the driver create an empty database.
		if _, err := os.Stat(*sqlitePath); err != nil {
			fmt.Fprintf(a.Stderr, "slipstream history: %v\n", err)
			return ExitFailure
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	db, dialect, err := historydb.Open(*sqlitePath, *dsn)
	if err != nil {
		fmt.Fprintf(a.Stderr, "slipstream history: %v\n", err)
		return ExitFailure
	}
	defer db.Close()
	val, found, err := historydb.Query(ctx, db, dialect, *schema, p, m, k, uint32(h))
	if err != nil {
		fmt.Fprintf(a.Stderr, "slipstream history: %v\n", err)
		return ExitFailure
	}
	if !found {
		fmt.Fprintln(a.Stdout, "absent")
		return ExitOK
	}
	fmt.Fprintln(a.Stdout, hex.EncodeToString(val))
	return ExitOK
}

func parseHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid hex: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("must not be empty")
	}
	return b, nil
}

// sampleKeyCmd is a hidden command used by `make demo`: it prints history flags
// (--program --mapping --key --height) for a key the chain certainly wrote, and on stderr
// the value the chain left it with at that height.
const sampleKeyCmd = "sample-key"

// sampleKey finds the first committed block that updates credits.aleo/account (or, failing
// that, any mapping) and prints `--program P --mapping M --key K --height H` for the first
// key it updates, plus (stderr) the key's value at the end of that block.
func (a *App) sampleKey(args []string) int {
	fs := a.newFlagSet(sampleKeyCmd, "Usage: slipstream sample-key --input FILE\n\nInternal (make demo): prints history flags for a key the chain wrote.\n")
	input := fs.String("input", "", "chain file")
	if code, ok := a.parseFlags(fs, args); !ok {
		return code
	}
	if *input == "" {
		return a.usageError(fs, "--input is required")
	}
	src, err := openInput(*input)
	if err != nil {
		fmt.Fprintf(a.Stderr, "slipstream %s: %v\n", sampleKeyCmd, err)
		return ExitFailure
	}
	defer src.close()
	prog, mapp := []byte("credits.aleo"), []byte("account")
	errFound := errors.New("found")
	var out string
	var fallback string
	err = src.each(context.Background(), func(b *chain.Block) error {
		if b.Aborted {
			return nil
		}
		for i, op := range b.Ops {
			if op.Kind != chain.OpUpdate {
				continue
			}
			line := fmt.Sprintf("--program %x --mapping %x --key %x --height %d", op.Program, op.Mapping, op.Key, b.Height)
			want := finalValue(b.Ops[i:], op.Program, op.Mapping, op.Key)
			if want == "absent" {
				continue // removed again in the same block: pick a key that holds a value
			}
			line += "\x00" + want
			if bytes.Equal(op.Program, prog) && bytes.Equal(op.Mapping, mapp) {
				out = line
				return errFound
			}
			if fallback == "" {
				fallback = line
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		fmt.Fprintf(a.Stderr, "slipstream %s: %v\n", sampleKeyCmd, err)
		return ExitFailure
	}
	if out == "" {
		out = fallback
	}
	if out == "" {
		fmt.Fprintf(a.Stderr, "slipstream %s: the chain updates no key\n", sampleKeyCmd)
		return ExitFailure
	}
	flags, want, _ := strings.Cut(out, "\x00")
	fmt.Fprintln(a.Stdout, flags)
	fmt.Fprintf(a.Stderr, "expected (from the chain file): %s\n", want)
	return ExitOK
}

// finalValue is the value key has after ops (those of one block, from its first update
// of the key on), as hex or "absent".
func finalValue(ops []chain.Op, program, mapping, key []byte) string {
	val := "absent"
	same := func(op *chain.Op) bool {
		return bytes.Equal(op.Program, program) && (op.Kind == chain.OpRemoveProgram || bytes.Equal(op.Mapping, mapping))
	}
	for i := range ops {
		op := &ops[i]
		if !same(op) {
			continue
		}
		switch op.Kind {
		case chain.OpInsert, chain.OpUpdate:
			if bytes.Equal(op.Key, key) {
				val = hex.EncodeToString(op.Value)
			}
		case chain.OpRemove:
			if bytes.Equal(op.Key, key) {
				val = "absent"
			}
		case chain.OpReplaceMapping:
			val = "absent"
			for _, e := range op.Entries {
				if bytes.Equal(e.Key, key) {
					val = hex.EncodeToString(e.Value)
				}
			}
		case chain.OpRemoveMapping, chain.OpRemoveProgram:
			val = "absent"
		}
	}
	return val
}
