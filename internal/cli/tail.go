package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slipstream-go/slipstream/abi"
	natsplugin "github.com/slipstream-go/slipstream/plugins/nats"
)

const tailUsage = `Usage: slipstream tail [--nats URL] [--kinds K,K…] [--program HEX] [--mapping HEX] [--from-height H] [--no-follow]

Prints the events the nats plugin (builtin: "nats") published to a JetStream stream, one
JSON object per line (the event JSON of plugins/nats/README.md), oldest first, then waits
for new ones: the way a downstream consumer on another machine starts. It reads with an
ordered, ephemeral consumer whose subject filter selects the kinds, and one program or
mapping of the mapping events (subjects <prefix>.<kind>.<program hex>.<mapping hex>).

--program or --mapping select mapping events only: the kinds default to mapping_update and
mapping_removal, and staking_reward or block with them is a usage error.

Exit status: 0 the end of the stream was reached (--no-follow); 1 the server or the stream
cannot be read; 2 usage error; 130 interrupted (SIGINT/SIGTERM; what was read is printed).

Example:
  slipstream tail --nats nats://10.0.0.5:4222 --program 637265646974732e616c656f --from-height 1200
`

type tailOptions struct {
	url, stream, prefix, creds string
	kinds                      abi.EventMask
	program, mapping           string // lowercase hex, "" for any
	fromHeight                 uint64
	follow                     bool
}

func (a *App) tail(ctx context.Context, args []string) int {
	fs := a.newFlagSet("tail", tailUsage)
	var o tailOptions
	fs.StringVar(&o.url, "nats", nats.DefaultURL, "NATS server URL (several separated by commas)")
	fs.StringVar(&o.stream, "stream", natsplugin.DefaultStream, "JetStream stream (the plugin's config key stream)")
	fs.StringVar(&o.prefix, "prefix", natsplugin.DefaultPrefix, "subject prefix (the plugin's config key prefix)")
	fs.StringVar(&o.creds, "creds", "", "NATS credentials file")
	var kinds stringList
	fs.Var(&kinds, "kinds", "kinds to print, comma-separated or repeated: mapping_update, mapping_removal, staking_reward, block (default all)")
	program := fs.String("program", "", "only mapping events of this program id, hex")
	mapping := fs.String("mapping", "", "only mapping events of this mapping name, hex")
	from := fs.String("from-height", "", "skip the events below this block height")
	noFollow := fs.Bool("no-follow", false, "stop at the end of the stream instead of waiting for new events")
	if code, ok := a.parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return a.usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	o.follow = !*noFollow
	for _, f := range []struct {
		name, val string
		dst       *string
	}{{"program", *program, &o.program}, {"mapping", *mapping, &o.mapping}} {
		if f.val == "" {
			continue
		}
		b, err := parseHex(f.val)
		if err != nil {
			return a.usageError(fs, "--%s: %v", f.name, err)
		}
		*f.dst = string(natsplugin.AppendHex(nil, b))
	}
	for _, list := range kinds {
		for _, s := range strings.Split(list, ",") {
			k, ok := natsplugin.ParseKind(strings.TrimSpace(s))
			if !ok {
				return a.usageError(fs, "--kinds: unknown kind %q (use mapping_update, mapping_removal, staking_reward, block)", s)
			}
			o.kinds |= abi.Mask(k)
		}
	}
	mappingKinds := abi.MaskOf(abi.MappingUpdate, abi.MappingRemoval)
	byProgram := o.program != "" || o.mapping != ""
	switch {
	case o.kinds == 0 && byProgram:
		o.kinds = mappingKinds
	case o.kinds == 0:
		o.kinds = abi.MaskAll
	case byProgram && o.kinds&^mappingKinds != 0:
		return a.usageError(fs, "--program and --mapping select mapping events: staking_reward and block have neither (leave --kinds out, or list mapping kinds)")
	}
	if *from != "" {
		h, err := strconv.ParseUint(*from, 10, 32)
		if err != nil {
			return a.usageError(fs, "--from-height: %q is not a block height (0 … 4294967295)", *from)
		}
		o.fromHeight = h
	}
	if strings.TrimSpace(o.url) == "" {
		return a.usageError(fs, "--nats: the server URL is empty")
	}
	w := bufio.NewWriterSize(a.Stdout, 64<<10)
	err := o.run(ctx, w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case err != nil:
		fmt.Fprintf(a.Stderr, "slipstream tail: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// filters returns the consumer's subject filters: one per kind.
func (o *tailOptions) filters() []string {
	var out []string
	for _, k := range o.kinds.Kinds() {
		subject := o.prefix + "." + natsplugin.KindToken(k)
		if k == abi.MappingUpdate || k == abi.MappingRemoval {
			subject += "." + orStar(o.program) + "." + orStar(o.mapping)
		}
		out = append(out, subject)
	}
	return out
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// run prints the stream's matching messages to w until the end (no follow) or ctx ends.
func (o *tailOptions) run(ctx context.Context, w *bufio.Writer) error {
	opts := []nats.Option{nats.Name("slipstream-tail"), nats.MaxReconnects(-1)}
	if o.creds != "" {
		opts = append(opts, nats.UserCredentials(o.creds))
	}
	nc, err := nats.Connect(o.url, opts...)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w (is the server running and reachable?)", o.url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(setup, o.stream)
	if err != nil {
		return fmt.Errorf("stream %s on %s: %w (does the nats plugin publish there? see --stream)", o.stream, o.url, err)
	}
	c, err := s.OrderedConsumer(setup, jetstream.OrderedConsumerConfig{FilterSubjects: o.filters()})
	if err != nil {
		return fmt.Errorf("creating a consumer on stream %s: %w", o.stream, err)
	}
	info, err := c.Info(setup)
	if err != nil {
		return fmt.Errorf("consumer on stream %s: %w", o.stream, err)
	}
	if !o.follow && info.NumPending == 0 {
		return nil
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", o.stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading stream %s: %w", o.stream, err)
		}
		if o.fromHeight > 0 {
			if h, err := strconv.ParseUint(m.Headers().Get(natsplugin.HeaderHeight), 10, 32); err == nil && h < o.fromHeight {
				if o.atEnd(m, w) {
					return nil
				}
				continue
			}
		}
		w.Write(m.Data())
		w.WriteByte('\n')
		if o.atEnd(m, w) {
			return nil
		}
	}
}

// atEnd flushes w when m is the last message for now, and reports whether tail stops
// there (no follow).
func (o *tailOptions) atEnd(m jetstream.Msg, w *bufio.Writer) bool {
	md, err := m.Metadata()
	if err != nil || md.NumPending > 0 {
		return false
	}
	w.Flush()
	return !o.follow
}
