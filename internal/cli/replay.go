package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/chain"
	"github.com/slipstream-go/slipstream/internal/iocount"
)

const replayUsage = `Usage: slipstream replay --plugin CFG [--plugin CFG ...] (--input FILE | --synthetic [gen flags])

Replays a chain block by block through a finalize.Store whose finalization feeds the
plugins, then unloads them (their data flushed) and prints a summary per plugin: its state
(active; disabled by error_policy "disable"; failed by error_policy "halt"), events
delivered, errors, dropped events, callback latency p50/p99 and events/s over the wall
time; then the totals, deliveries being events delivered summed over all plugins.

Each block is one Finalize(height, RealRun) batch: its operations in order, its staking
rewards and its Block event are delivered together when the batch commits. A block marked
"aborted" is applied and then rolled back: plugins see nothing of it, not even its Block
event. The input is read as a stream (memory does not grow with the file); "-" is stdin.
The format is internal/chain/FORMAT.md.

--journal DIR keeps a durable journal of the committed events (a bounded window:
--journal-retain-blocks, --journal-retain-bytes; --journal-fsync): a plugin that keeps a
position (resume_height) and loads behind, after an --admin DELETE and POST, a reload or a
crash, first gets the journaled events it has not seen, in order, then the live ones.
A journal re-opened after a crash ignores the heights it holds when they are replayed.

After a crash, --from-height H (0 … 4294967295) resumes: the blocks below H are replayed
into the store only (its state rebuilt, nothing delivered) and delivery starts at H.
Replaying from the start is also safe with plugins that are idempotent, as the history
plugin is.

A progress line is shown when stderr is a terminal. SIGINT or SIGTERM stops the replay
after the current block, unloads the plugins and prints the summary (exit 130); a second
signal kills the process.

Exit status: 0 done; 1 a malformed input line (reported as FILE:LINE: what is wrong, after
the blocks before it were finalized and delivered, nothing of the bad block), an operation
the store refuses, a plugin with error_policy "halt" failed (sync or async delivery), or a
plugin failed while unloading (on_unload panicked or logged an error, its library did not
close: its data may not be flushed); 2 usage error (a --from-height beyond 4294967295
included), unreadable input (a directory included), or a plugin config that does not load;
130 interrupted (1 if a plugin failed as well).

--admin ADDR serves the admin API (list, load, unload, reload plugins; /healthz;
Prometheus /metrics) while the replay runs: loopback only unless --admin-allow-remote;
changes need the bearer token from --admin-token-file or $SLIPSTREAM_ADMIN_TOKEN (or
--admin-insecure); configs loaded through it must lie under --plugin-dir. Changes need a
JSON body (Content-Type: application/json) and no foreign Origin header, so that a web page
cannot send them.

Examples:
  slipstream replay --plugin history.json5 --input chain.ndjson
  SLIPSTREAM_ADMIN_TOKEN=s3cret slipstream replay --plugin history.json5 --input chain.ndjson \
    --admin 127.0.0.1:9464 --plugin-dir ./plugins.d
  slipstream replay --plugin history.json5 --plugin log.json5 --synthetic --blocks 3000 --seed 7 --json
`

// errAborted is what a block's batch function returns for an "aborted" block, so that
// Finalize rolls the batch back.
var errAborted = errors.New("block aborted")

// errInterrupted stops the block loop when the context is cancelled.
var errInterrupted = errors.New("interrupted")

// replayOpts are the parsed flags of replay.
type replayOpts struct {
	plugins   stringList
	input     string
	synthetic bool
	gen       chain.GenConfig
	json      bool
	logLevel  string
	progress  string // auto | always | never
	admin     adminOpts
	from      uint

	journal      string
	retainBlocks uint
	retainBytes  int64
	journalFsync int
}

func (a *App) replay(ctx context.Context, args []string) int {
	var o replayOpts
	d := chain.DefaultGenConfig()
	o.gen = d
	fs := a.newFlagSet("replay", replayUsage)
	fs.Var(&o.plugins, "plugin", "plugin config file (JSON5); repeat for several plugins")
	fs.StringVar(&o.input, "input", "", "chain file to replay (NDJSON, one block per line; - for stdin)")
	fs.BoolVar(&o.synthetic, "synthetic", false, "replay a generated chain instead of --input (flags below as in 'slipstream gen')")
	fs.IntVar(&o.gen.Blocks, "blocks", d.Blocks, "synthetic: number of blocks")
	fs.IntVar(&o.gen.OpsPerBlock, "ops", d.OpsPerBlock, "synthetic: operations per block")
	fs.IntVar(&o.gen.Stakers, "stakers", d.Stakers, "synthetic: stakers receiving rewards every block")
	fs.Uint64Var(&o.gen.Seed, "seed", d.Seed, "synthetic: random seed")
	fs.Float64Var(&o.gen.AbortRate, "abort-rate", d.AbortRate, "synthetic: probability that a block is aborted")
	fs.IntVar(&o.gen.BlockSize, "block-size", d.BlockSize, "synthetic: bytes of each block's blob")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON (for scripts)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level on stderr: "+logLevels)
	fs.StringVar(&o.progress, "progress", "auto", "progress line on stderr: auto (when a terminal), always, never")
	fs.UintVar(&o.from, "from-height", 0, "resume: blocks below this height rebuild the store's state without reaching the plugins\n(for a plugin whose database already holds them, e.g. after a crash)")
	fs.StringVar(&o.journal, "journal", "", "keep a durable journal of the committed events in DIR: a plugin that loads behind\n(after --admin DELETE and POST, a reload, a crash) first gets what it missed from it")
	fs.UintVar(&o.retainBlocks, "journal-retain-blocks", 100_000, "with --journal: keep at least the last N heights")
	fs.Int64Var(&o.retainBytes, "journal-retain-bytes", 1<<30, "with --journal: keep at most about N bytes")
	fs.IntVar(&o.journalFsync, "journal-fsync", 0, "with --journal: fsync after every N-th block (0: never; a kill -9 loses nothing,\na power loss may)")
	o.admin.register(fs)
	if code, ok := a.parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return a.usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	if len(o.plugins) == 0 {
		return a.usageError(fs, "no --plugin given")
	}
	if uint64(o.from) > math.MaxUint32 {
		return a.usageError(fs, "--from-height %d is beyond the largest block height, %d", o.from, uint32(math.MaxUint32))
	}
	if (o.input == "") == !o.synthetic {
		return a.usageError(fs, "give exactly one of --input FILE and --synthetic")
	}
	genSet := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "blocks", "ops", "stakers", "seed", "abort-rate", "block-size":
			genSet = true
		}
	})
	if genSet && !o.synthetic {
		return a.usageError(fs, "--blocks, --ops, --stakers, --seed, --abort-rate and --block-size need --synthetic")
	}
	if o.synthetic {
		if err := o.gen.Validate(); err != nil {
			return a.usageError(fs, "%v", err)
		}
	}
	showProgress := false
	switch o.progress {
	case "auto":
		showProgress = a.isTerminal()
	case "always":
		showProgress = true
	case "never":
	default:
		return a.usageError(fs, "--progress must be auto, always or never, not %q", o.progress)
	}
	if err := o.admin.check(); err != nil {
		return a.usageError(fs, "%v", err)
	}

	var prog *progress
	var logOut io.Writer = a.Stderr
	if showProgress {
		prog = newProgress(a.Stderr)
		logOut = prog
	}
	log, err := newLogger(logOut, o.logLevel, a.isTerminal())
	if err != nil {
		return a.usageError(fs, "%v", err)
	}

	// The input first: a missing file is reported before any plugin is loaded.
	var src blockSource
	if o.synthetic {
		src = &genSource{cfg: o.gen}
	} else {
		s, err := openInput(o.input)
		if err != nil {
			fmt.Fprintf(a.Stderr, "slipstream replay: %v\n", err)
			return ExitUsage
		}
		defer s.close()
		src = s
	}

	hostOpts := []host.Option{host.WithLogger(log)}
	if o.journal != "" {
		hostOpts = append(hostOpts, host.WithJournal(o.journal, host.JournalRetainBlocks(uint32(min(o.retainBlocks, math.MaxUint32))),
			host.JournalRetainBytes(o.retainBytes), host.JournalFsync(o.journalFsync)))
	}
	mgr := host.NewManager(hostOpts...)
	for _, cfg := range o.plugins {
		if _, err := mgr.LoadPlugin(cfg); err != nil {
			mgr.Unload()
			fmt.Fprintf(a.Stderr, "slipstream replay: %v\n", err)
			return ExitUsage
		}
	}
	r := &replayer{
		store: finalize.NewStore(finalize.WithLogger(log)),
		mgr:   mgr,
		log:   log,
		prog:  prog,
		src:   src,

		fromHeight: uint32(o.from),
	}
	r.store.SetSlipstreamPluginManager(mgr)
	stopAdmin, err := o.admin.start(mgr, r.store, log, logOut)
	if err != nil {
		mgr.Unload()
		fmt.Fprintf(a.Stderr, "slipstream replay: %v\n", err)
		return ExitUsage
	}
	start := time.Now()
	lastCheck := start
	runErr := src.each(ctx, func(b *chain.Block) error {
		if ctx.Err() != nil {
			return errInterrupted
		}
		if err := r.block(b); err != nil {
			return err
		}
		// An async plugin's halt failure cannot reach Finalize (the broadcast returned
		// before the plugin ran): look for one now and then, and stop as a sync one does.
		if now := time.Now(); now.Sub(lastCheck) >= failedCheckEvery {
			lastCheck = now
			if err := failedPlugin(mgr.Plugins()); err != nil {
				return fmt.Errorf("%s: after block %d: %w", r.src.where(), b.Height, err)
			}
		}
		return nil
	})
	wall := time.Since(start)
	prog.finish()

	// Unload every plugin (async queues drained, on_unload flushes their data) and report
	// the counters as they stand then: complete, async deliveries included.
	stopAdmin()
	if o.journal != "" {
		_ = mgr.Flush(ctx) // plugins still catching up from the journal finish (unless interrupted)
	}
	infos := mgr.Shutdown()

	// What went wrong, in the order it happened: the replay's own stop (a malformed line,
	// an op the store refuses, a sync halt failure), an async plugin's halt failure after
	// the last look, and plugins that failed while unloading (on_unload panicked or logged
	// an error, the library did not close: their data may not be flushed).
	var failures []error
	code := ExitOK
	interrupted := errors.Is(runErr, errInterrupted)
	switch {
	case runErr == nil:
	case interrupted:
		code = ExitInterrupted
	default:
		failures = append(failures, runErr)
	}
	if runErr == nil || interrupted {
		if err := failedPlugin(infos); err != nil {
			failures = append(failures, err)
		}
	}
	for _, p := range infos {
		if p.UnloadError != "" {
			failures = append(failures, fmt.Errorf("plugin %q failed while unloading: %s", p.Name, p.UnloadError))
		}
	}
	sum := newSummary(r, infos, wall)
	sum.Interrupted = interrupted
	if len(failures) > 0 {
		code = ExitFailure
		msgs := make([]string, len(failures))
		for i, err := range failures {
			msgs[i] = err.Error()
		}
		sum.Error = strings.Join(msgs, "; ")
	}
	if o.json {
		sum.writeJSON(a.Stdout)
	} else {
		sum.writeText(a.Stdout)
	}
	if interrupted {
		fmt.Fprintf(a.Stderr, "slipstream replay: interrupted: stopped after block %d, plugins unloaded\n", r.lastHeight)
	}
	for _, err := range failures {
		var se *chain.SyntaxError
		if errors.As(err, &se) {
			fmt.Fprintln(a.Stderr, se.Error()) // FILE:LINE: what is wrong, as compilers do
		} else {
			fmt.Fprintf(a.Stderr, "slipstream replay: %v\n", err)
		}
	}
	return code
}

// failedCheckEvery is how often the replay looks for an async plugin that failed with
// error_policy halt.
const failedCheckEvery = 50 * time.Millisecond

// failedPlugin returns an error naming the plugins that error_policy halt marked failed,
// with their last error, or nil if there is none.
func failedPlugin(infos []host.PluginInfo) error {
	var errs []string
	for _, p := range infos {
		if p.State == host.StateFailed && p.ErrorPolicy == host.PolicyHalt {
			errs = append(errs, fmt.Sprintf("plugin %q failed (error_policy halt, %s delivery): %s", p.Name, p.Delivery, p.Counters.LastError))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

// replayer applies blocks to the store.
type replayer struct {
	store *finalize.Store
	mgr   *host.Manager
	log   zerolog.Logger
	prog  *progress
	src   blockSource

	blocks, committed, aborted int
	lastHeight                 uint32
	started                    bool
	firstHeight                uint32

	fromHeight uint32 // blocks below it are applied with Slipstream off (resume)

	cur, next []finalize.Staker // reused
	entries   []finalize.Entry  // reused
}

// block finalizes one block: its ops, staking rewards and Block event in one batch
// (delivered when the batch commits), or nothing at all for an aborted block.
func (r *replayer) block(b *chain.Block) error {
	if r.fromHeight > 0 {
		r.store.SetSlipstream(b.Height >= r.fromHeight)
	}
	var opErr error
	err := r.store.Finalize(b.Height, finalize.RealRun, func() error {
		for i := range b.Ops {
			if err := r.apply(&b.Ops[i]); err != nil {
				if b.Aborted {
					// The batch is rolled back anyway; an aborted block need not apply.
					r.log.Debug().Err(err).Uint32("height", b.Height).Msg("op of an aborted block failed")
					return errAborted
				}
				opErr = fmt.Errorf("op %d (%s): %w", i+1, b.Ops[i].Kind, err)
				return opErr
			}
		}
		r.cur = stakers(r.cur[:0], b.Current)
		r.next = stakers(r.next[:0], b.Next)
		r.store.NotifyStakingRewards(r.cur, r.next, b.Height)
		// Inside the batch, so that the Block event is held with the block's other events,
		// dropped with them if the block aborts, and a halt-policy failure of its delivery
		// is returned by Finalize (NotifyBlock itself returns nil inside a batch).
		if err := r.store.NotifyBlock(b.Bytes, b.Height); err != nil {
			return err
		}
		if b.Aborted {
			return errAborted
		}
		return nil
	})
	switch {
	case err == nil:
		r.committed++
	case errors.Is(err, errAborted):
		r.aborted++
	case opErr != nil && errors.Is(err, opErr):
		return fmt.Errorf("%s: block %d: %w", r.src.where(), b.Height, err)
	default:
		// The batch committed, but a plugin with error_policy halt failed.
		r.committed++
		r.blocks++
		r.lastHeight = b.Height
		return fmt.Errorf("%s: block %d: %w", r.src.where(), b.Height, err)
	}
	if !r.started {
		r.started, r.firstHeight = true, b.Height
	}
	r.blocks++
	r.lastHeight = b.Height
	if r.prog != nil {
		if now := time.Now(); r.prog.due(now) {
			r.prog.update(now, r.blocks, totalEvents(r.mgr.Plugins()), r.src.fraction(r.blocks))
		}
	}
	return nil
}

// apply runs one op on the store.
func (r *replayer) apply(op *chain.Op) error {
	s := r.store
	switch op.Kind {
	case chain.OpInitializeMapping:
		return s.InitializeMapping(op.Program, op.Mapping)
	case chain.OpInsert:
		return s.InsertKeyValue(op.Program, op.Mapping, op.Key, op.Value)
	case chain.OpUpdate:
		return s.UpdateKeyValue(op.Program, op.Mapping, op.Key, op.Value)
	case chain.OpRemove:
		return s.RemoveKeyValue(op.Program, op.Mapping, op.Key)
	case chain.OpReplaceMapping:
		r.entries = r.entries[:0]
		for _, e := range op.Entries {
			r.entries = append(r.entries, finalize.Entry{Key: e.Key, Value: e.Value})
		}
		return s.ReplaceMapping(op.Program, op.Mapping, r.entries)
	case chain.OpRemoveMapping:
		return s.RemoveMapping(op.Program, op.Mapping)
	case chain.OpRemoveProgram:
		return s.RemoveProgram(op.Program)
	}
	return fmt.Errorf("unknown op %v", op.Kind)
}

func stakers(dst []finalize.Staker, src []chain.StakerEntry) []finalize.Staker {
	for _, e := range src {
		dst = append(dst, finalize.Staker{Address: e.Staker, Validator: e.Validator, Stake: e.Stake})
	}
	return dst
}

func totalEvents(infos []host.PluginInfo) uint64 {
	var n uint64
	for _, p := range infos {
		n += p.Counters.Events
	}
	return n
}

// blockSource yields the blocks to replay.
type blockSource interface {
	// each calls fn with every block in order and stops at fn's first error, returning it;
	// a malformed input returns a *chain.SyntaxError. A source that may wait for its input
	// returns errInterrupted when ctx ends while it waits (fn checks ctx between blocks).
	each(ctx context.Context, fn func(*chain.Block) error) error
	// where names the current block for messages ("FILE:LINE" or "synthetic chain").
	where() string
	// fraction is how much of the input was consumed (0..1), or -1 when unknown.
	fraction(blocks int) float64
}

// fileSource reads a chain file as a stream.
type fileSource struct {
	name string
	f    *os.File
	cr   *iocount.Reader
	size int64         // 0: unknown (a pipe)
	rd   *chain.Reader // read by each's reading goroutine only

	// line and read are where the block being finalized ends (its line, the bytes read up
	// to it): what where and fraction report, on each's caller's goroutine.
	line int
	read int64
}

func openInput(name string) (*fileSource, error) {
	s := &fileSource{name: name}
	if name == "-" {
		s.f, s.name = os.Stdin, "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("cannot open the input: %w", err)
		}
		s.f = f
	}
	st, err := s.f.Stat()
	if err != nil {
		s.close()
		return nil, fmt.Errorf("cannot open the input: %w", err)
	}
	if st.IsDir() {
		s.close()
		return nil, fmt.Errorf("cannot open the input: %s is a directory, not a chain file", name)
	}
	if st.Mode().IsRegular() {
		s.size = st.Size()
	}
	s.cr = &iocount.Reader{R: s.f}
	s.rd = chain.NewReader(s.cr, s.name)
	return s, nil
}

func (s *fileSource) close() {
	if s.f != os.Stdin {
		s.f.Close()
	}
}

// readAhead is how many parsed blocks may wait for the store: enough to keep the reader
// busy while the store finalizes, few enough that memory stays bounded by a few lines.
const readAhead = 16

// each reads ahead: one goroutine reads and parses the next blocks (at most readAhead
// waiting) while fn finalizes the current one, so that parsing and finalizing use two cores.
// The blocks reach fn in order, and the first malformed line ends the replay after the
// blocks before it, as without read-ahead. A block fn finalized goes back to the reader
// for its memory (the store keeps nothing of it: it copies what it stores and holds), so
// that reading allocates next to nothing. It returns after the reading goroutine stopped,
// except when ctx ends while it waits for the next block: a read from a pipe that sends
// nothing must not hold up an interrupted replay, so it returns errInterrupted at once and
// leaves the goroutine to end with its read (it touches nothing of s but the reader).
func (s *fileSource) each(ctx context.Context, fn func(*chain.Block) error) error {
	type parsed struct {
		b    *chain.Block
		line int   // the reader's line after it
		read int64 // bytes consumed after it
		err  error // io.EOF after the last block
	}
	ch := make(chan parsed, readAhead)
	free := make(chan *chain.Block, readAhead+2) // finalized blocks, for their memory
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var old *chain.Block
			select {
			case old = <-free:
			default:
			}
			b, err := s.rd.NextReusing(old)
			select {
			case ch <- parsed{b, s.rd.Line(), s.cr.N, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	waitReader := true
	defer func() {
		close(done) // fn failed, or the reader stopped: it must not wait to send
		if waitReader {
			wg.Wait()
		}
	}()
	for {
		var p parsed
		select {
		case p = <-ch:
		case <-ctx.Done():
			waitReader = false // it may be blocked in a read that never returns
			return errInterrupted
		}
		s.line, s.read = p.line, p.read
		switch {
		case p.err == io.EOF:
			return nil
		case p.err != nil:
			return p.err
		}
		if err := fn(p.b); err != nil {
			return err
		}
		select {
		case free <- p.b:
		default:
		}
	}
}

// where names the line of the block being finalized.
func (s *fileSource) where() string { return fmt.Sprintf("%s:%d", s.name, s.line) }

func (s *fileSource) fraction(int) float64 {
	if s.size <= 0 {
		return -1
	}
	return float64(s.read) / float64(s.size)
}

// genSource generates the chain while replaying it.
type genSource struct {
	cfg    chain.GenConfig
	height uint32
}

func (g *genSource) each(_ context.Context, fn func(*chain.Block) error) error {
	return chain.Generate(g.cfg, func(b *chain.Block) error {
		g.height = b.Height
		return fn(b)
	})
}

func (g *genSource) where() string { return "synthetic chain" }

func (g *genSource) fraction(blocks int) float64 {
	if g.cfg.Blocks <= 0 {
		return -1
	}
	return float64(blocks) / float64(g.cfg.Blocks)
}
