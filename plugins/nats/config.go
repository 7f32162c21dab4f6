package natsplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// ErrConfig: the plugin's config is invalid (the message names the key and what to do).
var ErrConfig = errors.New("nats plugin config")

// Defaults of Options.
const (
	DefaultStream          = "SLIPSTREAM"
	DefaultPrefix          = "slipstream"
	DefaultMaxPending      = 4096
	DefaultAckTimeout      = 5 * time.Second
	DefaultAckInterval     = 50 * time.Millisecond
	DefaultDuplicateWindow = 2 * time.Minute
)

// Options configure the plugin. New takes them as the defaults of a Go node; the keys of
// the config file the host passes to OnLoad override them (a zero field means its default).
type Options struct {
	// URLs are the servers (config url or urls); default nats.DefaultURL.
	URLs []string
	// Stream is the JetStream stream, created (subjects <Prefix>.>, file storage) when
	// missing; default SLIPSTREAM.
	Stream string
	// Prefix is the subjects' first token; default slipstream.
	Prefix string
	// Kinds are the kinds published (config kinds: snake_case or ABI names); default all.
	Kinds abi.EventMask
	// Credentials (config creds, nkey_seed, user, password, token): one way at most.
	CredsFile, NKeySeedFile, User, Password, Token string
	// TLS (config tls_ca, tls_cert, tls_key); cert and key go together.
	TLSCA, TLSCert, TLSKey string
	// MaxPending is the number of async publishes in flight before the plugin waits for
	// their acknowledgements (config max_pending); default 4096.
	MaxPending int
	// AckTimeout bounds the wait for one publish's acknowledgement (config ack_timeout);
	// default 5s.
	AckTimeout time.Duration
	// AckInterval: at the end of a block the plugin waits for the outstanding
	// acknowledgements when the last wait is at least this old (config ack_interval), so a
	// live node's blocks are confirmed one by one and a replay's in batches; default 50ms.
	AckInterval time.Duration
	// DuplicateWindow is the duplicate window of a stream the plugin creates (config
	// duplicate_window); default 2m.
	DuplicateWindow time.Duration
	// Replicas of a stream the plugin creates (config replicas); default 1.
	Replicas int
	// MemoryStorage makes a created stream keep its messages in memory (config storage:
	// "memory"); the default is file storage.
	MemoryStorage bool
}

// pluginKeys are the config keys the plugin reads (the host's are host.Config's).
var pluginKeys = map[string]bool{
	"url": true, "urls": true, "stream": true, "prefix": true, "kinds": true,
	"creds": true, "nkey_seed": true, "user": true, "password": true, "token": true,
	"tls_ca": true, "tls_cert": true, "tls_key": true, "max_pending": true,
	"ack_timeout": true, "ack_interval": true, "duplicate_window": true, "replicas": true,
	"storage": true,
}

// fileConfig is the plugin's part of the config file.
type fileConfig struct {
	URL             *string   `json:"url"`
	URLs            []string  `json:"urls"`
	Stream          *string   `json:"stream"`
	Prefix          *string   `json:"prefix"`
	Kinds           *[]string `json:"kinds"`
	Creds           *string   `json:"creds"`
	NKeySeed        *string   `json:"nkey_seed"`
	User            *string   `json:"user"`
	Password        *string   `json:"password"`
	Token           *string   `json:"token"`
	TLSCA           *string   `json:"tls_ca"`
	TLSCert         *string   `json:"tls_cert"`
	TLSKey          *string   `json:"tls_key"`
	MaxPending      *int      `json:"max_pending"`
	AckTimeout      *string   `json:"ack_timeout"`
	AckInterval     *string   `json:"ack_interval"`
	DuplicateWindow *string   `json:"duplicate_window"`
	Replicas        *int      `json:"replicas"`
	Storage         *string   `json:"storage"`
}

// readConfig returns base overridden by the config file's keys (file "" keeps base), with
// the defaults filled in and relative paths resolved from the file's directory.
func readConfig(base Options, file string) (Options, error) {
	o := base
	if file != "" {
		if err := o.apply(file); err != nil {
			return o, fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
		}
	}
	if err := o.fill(); err != nil {
		if file != "" {
			return o, fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
		}
		return o, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return o, nil
}

func (o *Options) apply(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	cfg, err := host.ParseConfig(file, data)
	if err != nil {
		return err
	}
	for _, k := range cfg.PluginKeys() {
		if !pluginKeys[k] {
			return fmt.Errorf("unknown key %q (the nats plugin reads url, urls, stream, prefix, kinds, creds, nkey_seed, user, password, token, tls_ca, tls_cert, tls_key, max_pending, ack_timeout, ack_interval, duplicate_window, replicas, storage)", k)
		}
	}
	var fc fileConfig
	if err := json.Unmarshal(cfg.JSON(), &fc); err != nil {
		return fmt.Errorf("a key has the wrong type: %v", err)
	}
	dir := filepath.Dir(file)
	path := func(p *string) string {
		if p == nil || *p == "" || filepath.IsAbs(*p) {
			return deref(p)
		}
		return filepath.Join(dir, *p)
	}
	if fc.URL != nil && fc.URLs != nil {
		return errors.New("set url or urls, not both")
	}
	if fc.URL != nil {
		o.URLs = []string{*fc.URL}
	}
	if fc.URLs != nil {
		if len(fc.URLs) == 0 {
			return errors.New("urls is empty: list at least one server, e.g. [\"nats://127.0.0.1:4222\"]")
		}
		o.URLs = fc.URLs
	}
	set := func(dst *string, p *string) {
		if p != nil {
			*dst = *p
		}
	}
	set(&o.Stream, fc.Stream)
	set(&o.Prefix, fc.Prefix)
	set(&o.User, fc.User)
	set(&o.Password, fc.Password)
	set(&o.Token, fc.Token)
	for dst, p := range map[*string]*string{&o.CredsFile: fc.Creds, &o.NKeySeedFile: fc.NKeySeed, &o.TLSCA: fc.TLSCA, &o.TLSCert: fc.TLSCert, &o.TLSKey: fc.TLSKey} {
		if p != nil {
			*dst = path(p)
		}
	}
	if fc.Kinds != nil {
		var m abi.EventMask
		for _, s := range *fc.Kinds {
			k, ok := ParseKind(s)
			if !ok {
				return fmt.Errorf("kinds: unknown kind %q (use mapping_update, mapping_removal, staking_reward, block)", s)
			}
			m |= abi.Mask(k)
		}
		if m == 0 {
			return errors.New("kinds is empty: list the kinds to publish, or remove the key for all of them")
		}
		o.Kinds = m
	}
	if fc.MaxPending != nil {
		if *fc.MaxPending <= 0 {
			return fmt.Errorf("max_pending must be a positive integer, not %d", *fc.MaxPending)
		}
		o.MaxPending = *fc.MaxPending
	}
	if fc.Replicas != nil {
		if *fc.Replicas <= 0 {
			return fmt.Errorf("replicas must be a positive integer, not %d", *fc.Replicas)
		}
		o.Replicas = *fc.Replicas
	}
	for _, d := range []struct {
		key string
		p   *string
		dst *time.Duration
	}{{"ack_timeout", fc.AckTimeout, &o.AckTimeout}, {"ack_interval", fc.AckInterval, &o.AckInterval}, {"duplicate_window", fc.DuplicateWindow, &o.DuplicateWindow}} {
		if d.p == nil {
			continue
		}
		v, err := time.ParseDuration(*d.p)
		if err != nil || v <= 0 {
			return fmt.Errorf("%s must be a positive duration such as \"5s\", not %q", d.key, *d.p)
		}
		*d.dst = v
	}
	if fc.Storage != nil {
		switch *fc.Storage {
		case "file":
			o.MemoryStorage = false
		case "memory":
			o.MemoryStorage = true
		default:
			return fmt.Errorf("storage must be \"file\" or \"memory\", not %q", *fc.Storage)
		}
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// fill sets the defaults and checks what goes together.
func (o *Options) fill() error {
	if len(o.URLs) == 0 {
		o.URLs = []string{nats.DefaultURL}
	}
	for _, u := range o.URLs {
		if strings.TrimSpace(u) == "" {
			return errors.New("a server URL is empty")
		}
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if strings.ContainsAny(o.Stream, ". *>\t") {
		return fmt.Errorf("stream %q: a stream name cannot hold '.', '*', '>' or white space", o.Stream)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	for _, tok := range strings.Split(o.Prefix, ".") {
		if tok == "" || strings.ContainsAny(tok, " *>\t") {
			return fmt.Errorf("prefix %q: it must be one or more subject tokens separated by '.', without '*', '>' or white space", o.Prefix)
		}
	}
	if o.Kinds == 0 {
		o.Kinds = abi.MaskAll
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.AckInterval <= 0 {
		o.AckInterval = DefaultAckInterval
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	ways := 0
	for _, s := range []string{o.CredsFile, o.NKeySeedFile, o.User, o.Token} {
		if s != "" {
			ways++
		}
	}
	if ways > 1 {
		return errors.New("set one of creds, nkey_seed, user (with password) and token")
	}
	if o.Password != "" && o.User == "" {
		return errors.New("password is set without user")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("tls_cert and tls_key go together: set both or neither")
	}
	return nil
}

// natsOptions are the connection options for o.
func (o *Options) natsOptions() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("slipstream-nats"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// No reconnect buffer: a publish while the connection is down fails at once (and
		// so does OnBroadcast) instead of being held where no acknowledgement can follow.
		nats.ReconnectBufSize(-1),
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_seed %s: %w", o.NKeySeedFile, err)
		}
		opts = append(opts, opt)
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return opts, nil
}
