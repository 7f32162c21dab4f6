package host

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/titanous/json5"
)

// ErrorPolicy says what the host does when a plugin's callback fails.
type ErrorPolicy int

const (
	// PolicyLog (default) logs a warning with the plugin's name, counts the error, goes on.
	PolicyLog ErrorPolicy = iota
	// PolicyDisable stops delivering to the plugin after MaxConsecutiveErrors failures in a
	// row; a reload re-enables it.
	PolicyDisable
	// PolicyHalt returns the error to the node (Broadcast, the store's Finalize) so the
	// operator can stop it.
	PolicyHalt
)

// The config values of the host's enumerated settings, indexed by the setting's constant:
// String prints them and ParseConfig reads them. A value out of range prints as the first
// (the default).
var (
	errorPolicyNames = []string{"log", "disable", "halt"}
	deliveryNames    = []string{"sync", "async"}
	onFullNames      = []string{"block", "drop"}
	isolationNames   = []string{"none", "process"}
)

// enumName is names[i], or names[0] (the default) when i is out of range.
func enumName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return names[0]
	}
	return names[i]
}

func (p ErrorPolicy) String() string { return enumName(errorPolicyNames, int(p)) }

// Delivery says on which goroutine a plugin's broadcast callbacks run.
type Delivery int

const (
	// DeliverySync (default) calls the plugin on the node's finalization path.
	DeliverySync Delivery = iota
	// DeliveryAsync queues events (bounded) for a worker that calls the plugin in order.
	DeliveryAsync
)

func (d Delivery) String() string { return enumName(deliveryNames, int(d)) }

// OnFull says what an async plugin's full queue does to the node.
type OnFull int

const (
	// OnFullBlock (default) makes the broadcast wait for room: backpressure on finalization.
	OnFullBlock OnFull = iota
	// OnFullDrop drops the events (counted, warned about at most once per second).
	OnFullDrop
)

func (o OnFull) String() string { return enumName(onFullNames, int(o)) }

// Defaults of the host settings.
const (
	DefaultMaxConsecutiveErrors = 100
	DefaultQueueCapacity        = 65536
	DefaultDrainTimeout         = 30 * time.Second
	DefaultCallTimeout          = 30 * time.Second
	DefaultMaxRestarts          = 5
	DefaultRestartWindow        = 10 * time.Minute
)

// Isolation says where a C-ABI plugin's code runs.
type Isolation int

const (
	// IsolationNone (default) loads the plugin into the node's process.
	IsolationNone Isolation = iota
	// IsolationProcess loads it in a child process of the node (isolation_process.go):
	// a crash or hang of the plugin restarts the child instead of taking the node down.
	// Delivery is asynchronous (a bounded queue following on_full, as delivery "async").
	IsolationProcess
)

func (i Isolation) String() string { return enumName(isolationNames, int(i)) }

// Config is a parsed plugin config file (JSON5). The host reads the settings below; every
// other key belongs to the plugin, which reads it in on_load (config_json, config_get).
type Config struct {
	// File is the config file's absolute path.
	File string
	// LibPath is the library's path as resolved from libpath (relative to File's
	// directory), absolute; "" for a Go-native plugin's config.
	LibPath string
	// Builtin names a Go-native plugin built into the program (see RegisterBuiltin and
	// WithBuiltin), set by the builtin key instead of libpath; "" for a library.
	Builtin string
	// Name overrides the plugin's own name when not "".
	Name string

	ErrorPolicy          ErrorPolicy
	MaxConsecutiveErrors int
	Delivery             Delivery
	QueueCapacity        int
	OnFull               OnFull
	DrainTimeout         time.Duration
	// Isolation, and for IsolationProcess: how long the child may take to answer a batch
	// (CallTimeout), and how many restarts (MaxRestarts) within RestartWindow it gets before
	// the plugin is failed.
	Isolation     Isolation
	CallTimeout   time.Duration
	MaxRestarts   int
	RestartWindow time.Duration
	// SHA256 is the pinned hash of the library (lowercase hex), or "".
	SHA256 string
	// AllowInsecure skips the ownership and permission checks of the library, the config
	// and the directories above them (see checkLibrary).
	AllowInsecure bool

	lib    *checkedLib    // the library's checks, made before the manager's lock (prepareLib)
	values map[string]any // the whole document, numbers as json5.Number
	json   []byte         // the whole document as strict JSON
}

// hostKeys are the top-level keys the host reads; everything else is the plugin's.
var hostKeys = map[string]bool{
	"libpath": true, "name": true, "error_policy": true, "max_consecutive_errors": true,
	"delivery": true, "queue_capacity": true, "on_full": true, "drain_timeout": true,
	"sha256": true, "allow_insecure": true, "builtin": true,
	"isolation": true, "call_timeout": true, "max_restarts": true, "restart_window": true,
}

// MaxConfigSize is the largest config file the host reads (1 MiB): a config is a few
// settings, and a bigger file (or /dev/zero) must not grow the node's memory.
const MaxConfigSize = 1 << 20

// LoadConfig reads and parses a plugin config file of a C-ABI plugin, which must set
// libpath, or of a built-in Go plugin, which sets builtin instead. Errors are *LoadError
// naming the file, wrapping ErrConfigRead, ErrConfigSyntax, ErrConfigInvalid or ErrNoLibpath.
func LoadConfig(path string) (*Config, error) {
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if cfg.LibPath == "" && cfg.Builtin == "" {
		return nil, &LoadError{Config: cfg.File, Err: fmt.Errorf("%w: add libpath: \"path/to/libplugin%s\" (relative to the config's directory), or builtin: \"<name>\" for a plugin built into the program", ErrNoLibpath, libExt)}
	}
	return cfg, nil
}

// readConfig is the one reader of config files (LoadConfig, Register, ReloadPlugin): it
// reads the regular file at path (at most MaxConfigSize bytes; a FIFO or device is refused
// at once instead of blocking) and parses it. A missing libpath is not an error here
// (Go-native plugins need none). Errors are *LoadError naming the file.
func readConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &LoadError{Config: path, Err: fmt.Errorf("%w: %v", ErrConfigRead, err)}
	}
	data, err := readRegularFile(abs, MaxConfigSize)
	if err != nil {
		return nil, &LoadError{Config: abs, Err: fmt.Errorf("%w: %w", ErrConfigRead, err)}
	}
	cfg, err := ParseConfig(abs, data)
	if err != nil {
		return nil, &LoadError{Config: abs, Err: err}
	}
	return cfg, nil
}

// readRegularFile reads the file at path, which must be a regular file of at most max
// bytes. It opens without blocking (a FIFO would wait for a writer) and checks the open
// file, not the path, so that a file swapped in between cannot slip through.
func readRegularFile(path string, max int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes (1 MiB) for a config file", path, max)
	}
	return data, nil
}

// openRegular opens path for reading without blocking and refuses anything but a regular
// file (a FIFO, a device such as /dev/zero, a directory), with an error that says what the
// path is and what to do.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlocking, 0)
	if err != nil {
		return nil, fmt.Errorf("%v (check the path and its permissions)", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (it is a %s): point to a plain file", path, fileKind(fi.Mode()))
	}
	return f, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// utf8BOM is a UTF-8 byte order mark, which JSON5 reads as white space.
const utf8BOM = "\xef\xbb\xbf"

// ParseConfig parses the JSON5 text of a config file whose absolute path is file (used to
// resolve a relative libpath). A missing libpath is not an error here (Go-native plugins
// need none); LoadConfig requires it. Nothing but white space and comments may follow the
// top-level object, and objects and arrays may nest at most MaxConfigDepth deep.
func ParseConfig(file string, data []byte) (*Config, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	// The decoder recurses once per level: bound the depth on the raw text first, so that
	// 2,000,000 '[' cost a scan, not gigabytes of stack.
	if err := checkDepth(data, MaxConfigDepth); err != nil {
		return nil, err
	}
	r := bytes.NewReader(data)
	dec := json5.NewDecoder(r)
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfigSyntax, err)
	}
	rest, _ := io.ReadAll(io.MultiReader(dec.Buffered(), r))
	if at, ok := trailingText(rest); ok {
		return nil, fmt.Errorf("%w: text after the end of the top-level value (byte %d: %q): remove it, or move it inside the { … }",
			ErrConfigSyntax, len(data)-len(rest)+at, excerpt(rest[at:]))
	}
	values, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the top level must be an object ({ libpath: \"…\", … })", ErrConfigSyntax)
	}
	if err := checkValues(values, 1); err != nil {
		return nil, err
	}
	var strict bytes.Buffer
	writeStrictJSON(&strict, values)
	cfg := &Config{
		File:                 file,
		ErrorPolicy:          PolicyLog,
		MaxConsecutiveErrors: DefaultMaxConsecutiveErrors,
		QueueCapacity:        DefaultQueueCapacity,
		DrainTimeout:         DefaultDrainTimeout,
		CallTimeout:          DefaultCallTimeout,
		MaxRestarts:          DefaultMaxRestarts,
		RestartWindow:        DefaultRestartWindow,
		values:               values,
		json:                 strict.Bytes(),
	}
	var errs []error
	bad := func(key, want string) {
		errs = append(errs, fmt.Errorf("%w: %s must be %s, not %s", ErrConfigInvalid, key, want, configText(values[key])))
	}
	str := func(key string) (string, bool) {
		v, present := values[key]
		if !present || v == nil {
			return "", false
		}
		s, ok := v.(string)
		if !ok {
			bad(key, "a string")
			return "", false
		}
		return s, true
	}
	posInt := func(key string, dst *int) {
		v, present := values[key]
		if !present {
			return
		}
		n, ok := v.(json5.Number)
		i, err := strconv.ParseInt(numberText(n), 0, 64)
		if !ok || err != nil || i <= 0 || i > math.MaxInt32 {
			bad(key, "a positive integer")
			return
		}
		*dst = int(i)
	}
	enum := func(key string, names []string) int {
		s, ok := str(key)
		if !ok {
			return 0
		}
		for i, n := range names {
			if s == n {
				return i
			}
		}
		bad(key, "one of "+strings.Join(names, ", "))
		return 0
	}

	if lp, ok := str("libpath"); ok && lp != "" {
		if !filepath.IsAbs(lp) {
			lp = filepath.Join(filepath.Dir(file), lp)
		}
		cfg.LibPath = filepath.Clean(lp)
	}
	if b, ok := str("builtin"); ok {
		switch {
		case b == "":
			bad("builtin", "the name of a built-in plugin such as \"nats\"")
		case cfg.LibPath != "":
			errs = append(errs, fmt.Errorf("%w: both libpath and builtin are set: keep libpath for a plugin library, or builtin: %q for the built-in plugin", ErrConfigInvalid, b))
		}
		cfg.Builtin = b
	}
	if n, ok := str("name"); ok {
		if err := checkName(n); err != nil {
			errs = append(errs, fmt.Errorf("%w: name: %w", ErrConfigInvalid, err))
		}
		cfg.Name = n
	}
	cfg.ErrorPolicy = ErrorPolicy(enum("error_policy", errorPolicyNames))
	cfg.Delivery = Delivery(enum("delivery", deliveryNames))
	cfg.OnFull = OnFull(enum("on_full", onFullNames))
	posInt("max_consecutive_errors", &cfg.MaxConsecutiveErrors)
	posInt("queue_capacity", &cfg.QueueCapacity)
	duration := func(key string, dst *time.Duration) {
		if s, ok := str(key); ok {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				bad(key, `a positive duration such as "30s"`)
			}
			*dst = d
		}
	}
	duration("drain_timeout", &cfg.DrainTimeout)
	cfg.Isolation = Isolation(enum("isolation", isolationNames))
	duration("call_timeout", &cfg.CallTimeout)
	duration("restart_window", &cfg.RestartWindow)
	if v, present := values["max_restarts"]; present {
		n, ok := v.(json5.Number)
		i, err := strconv.ParseInt(numberText(n), 0, 64)
		if !ok || err != nil || i < 0 || i > math.MaxInt32 {
			bad("max_restarts", "a non-negative integer")
		} else {
			cfg.MaxRestarts = int(i)
		}
	}
	if cfg.Isolation == IsolationProcess {
		// The node never waits for a child: isolation implies asynchronous delivery.
		if d, ok := str("delivery"); ok && d == "sync" {
			errs = append(errs, fmt.Errorf("%w: isolation \"process\" delivers asynchronously (the node never waits for the child): remove delivery: \"sync\" or set it to \"async\"", ErrConfigInvalid))
		}
		cfg.Delivery = DeliveryAsync
	}
	if s, ok := str("sha256"); ok {
		s = strings.ToLower(s)
		if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
			bad("sha256", "64 hex digits (the output of sha256sum)")
		}
		cfg.SHA256 = s
	}
	if v, present := values["allow_insecure"]; present {
		b, ok := v.(bool)
		if !ok {
			bad("allow_insecure", "true or false")
		}
		cfg.AllowInsecure = b
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// JSON returns the whole config as strict JSON (what on_load receives as config_json).
// JSON5-only number forms are normalized (0x10 → 16, +1 → 1, .5 → 0.5); Infinity and NaN,
// which JSON cannot express, become null.
func (c *Config) JSON() []byte { return c.json }

// Value returns the top-level value key as config_get gives it to a plugin: strings
// unquoted, numbers as written, booleans as true/false, null as null, objects and arrays as
// strict JSON. ok is false when the key is absent.
func (c *Config) Value(key string) (text string, ok bool) {
	v, ok := c.values[key]
	if !ok {
		return "", false
	}
	return configText(v), true
}

// PluginKeys lists the top-level keys that are not host settings, sorted.
func (c *Config) PluginKeys() []string {
	var keys []string
	for k := range c.values {
		if !hostKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func configText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json5.Number:
		return string(v)
	case float64: // Infinity, NaN
		switch {
		case math.IsInf(v, 1):
			return "Infinity"
		case math.IsInf(v, -1):
			return "-Infinity"
		}
		return "NaN"
	}
	var b bytes.Buffer
	writeStrictJSON(&b, v)
	return b.String()
}

// MaxConfigDepth is how deeply objects and arrays may nest in a config file (the top-level
// object is depth 1).
const MaxConfigDepth = 64

// jsonNumber is the grammar of a strict JSON number (RFC 8259).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// checkValues walks a decoded document: it refuses nesting deeper than MaxConfigDepth and
// number literals that the JSON5 decoder let through but that are no JSON5 numbers (it
// accepts "+.Infinity", which no normalization turns into JSON).
func checkValues(v any, depth int) error {
	switch v := v.(type) {
	case json5.Number:
		if !jsonNumber.MatchString(numberText(v)) {
			return fmt.Errorf("%w: %q is not a number (write a decimal or 0x-hex number, Infinity or NaN)", ErrConfigSyntax, string(v))
		}
	case []any:
		if depth > MaxConfigDepth {
			return fmt.Errorf("%w: arrays and objects nest deeper than %d levels", ErrConfigSyntax, MaxConfigDepth)
		}
		for _, e := range v {
			if err := checkValues(e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if depth > MaxConfigDepth {
			return fmt.Errorf("%w: arrays and objects nest deeper than %d levels", ErrConfigSyntax, MaxConfigDepth)
		}
		for _, e := range v {
			if err := checkValues(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// numberText normalizes a JSON5 number literal to strict JSON.
func numberText(n json5.Number) string {
	s := string(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		if i, ok := new(big.Int).SetString(s[2:], 16); ok {
			s = i.String()
		}
	} else {
		if strings.HasPrefix(s, ".") {
			s = "0" + s
		}
		s = strings.Replace(s, ".e", ".0e", 1)
		s = strings.Replace(s, ".E", ".0E", 1)
		if strings.HasSuffix(s, ".") {
			s += "0"
		}
	}
	if neg {
		s = "-" + s
	}
	return s
}

// writeStrictJSON writes a decoded JSON5 document as strict JSON, object keys sorted.
func writeStrictJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		s, _ := json.Marshal(v)
		b.Write(s)
	case json5.Number:
		b.WriteString(numberText(v))
	case float64: // only Infinity and NaN reach here (numbers are json5.Number)
		if math.IsInf(v, 0) || math.IsNaN(v) {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	case []any:
		writeJSONList(b, '[', ']', len(v), func(i int) { writeStrictJSON(b, v[i]) })
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		writeJSONList(b, '{', '}', len(keys), func(i int) {
			writeStrictJSON(b, keys[i])
			b.WriteByte(':')
			writeStrictJSON(b, v[keys[i]])
		})
	default:
		s, _ := json.Marshal(v)
		b.Write(s)
	}
}

// writeJSONList writes open, the n items (item(i) writes the i-th) separated by commas, and
// close: the body of a JSON array or object.
func writeJSONList(b *bytes.Buffer, open, close byte, n int, item func(i int)) {
	b.WriteByte(open)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		item(i)
	}
	b.WriteByte(close)
}

// checkDepth scans raw JSON5 text for brackets outside strings and comments and refuses
// nesting deeper than max before the decoder (which recurses per level) sees it.
// Malformed text is left to the decoder to report.
func checkDepth(data []byte, max int) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '"', '\'':
			for i++; i < len(data) && data[i] != c; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '/':
			switch {
			case i+1 < len(data) && data[i+1] == '/':
				for i += 2; i < len(data) && data[i] != '\n' && data[i] != '\r'; i++ {
				}
			case i+1 < len(data) && data[i+1] == '*':
				end := bytes.Index(data[i+2:], []byte("*/"))
				if end < 0 {
					return nil
				}
				i += 2 + end + 1
			}
		case '[', '{':
			if depth++; depth > max {
				return fmt.Errorf("%w: arrays and objects nest deeper than %d levels (at byte %d)", ErrConfigSyntax, max, i)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// trailingText returns the offset of the first byte in rest that is neither JSON5 white
// space nor part of a comment, and whether there is one.
func trailingText(rest []byte) (int, bool) {
	for i := 0; i < len(rest); {
		switch {
		case rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\n' || rest[i] == '\r' || rest[i] == '\v' || rest[i] == '\f':
			i++
		case bytes.HasPrefix(rest[i:], []byte("//")):
			end := bytes.IndexAny(rest[i:], "\r\n")
			if end < 0 {
				return 0, false
			}
			i += end
		case bytes.HasPrefix(rest[i:], []byte("/*")):
			end := bytes.Index(rest[i+2:], []byte("*/"))
			if end < 0 {
				return i, true
			}
			i += 2 + end + 2
		default:
			r, n := utf8.DecodeRune(rest[i:])
			if r != utf8.RuneError && unicode.Is(unicode.Zs, r) || r == '\u2028' || r == '\u2029' || r == '\ufeff' {
				i += n
				continue
			}
			return i, true
		}
	}
	return 0, false
}

// excerpt returns the start of b for an error message.
func excerpt(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// MaxNameLen is the longest plugin name, in bytes.
const MaxNameLen = 128

// checkName refuses a plugin name that is not printable UTF-8 (control characters and
// newlines would reach log lines raw, invalid UTF-8 breaks /metrics), that is empty or
// white space only, or longer than MaxNameLen bytes. The error wraps ErrInvalidName.
func checkName(name string) error {
	show := name
	if len(show) > 40 {
		show = show[:40]
	}
	switch {
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %q… is longer than %d bytes", ErrInvalidName, show, MaxNameLen)
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: the name is empty or white space only", ErrInvalidName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidName, show)
	}
	for _, r := range name {
		if !unicode.IsGraphic(r) {
			return fmt.Errorf("%w: %q holds the unprintable character %U (names are printable text, no control characters or newlines)", ErrInvalidName, show, r)
		}
	}
	return nil
}

// Suspicious returns a warning for each top-level key that is not a host setting but is
// within two edits of one (eror_policy, LibPath, sha265; one edit for the short "name", so
// that plugin keys such as "node" or "date" pass): probably a misspelled setting, which the
// host would silently hand to the plugin as the plugin's own key. Sorted by key.
func (c *Config) Suspicious() []string {
	var out []string
	for _, k := range c.PluginKeys() {
		lk := strings.ToLower(strings.ReplaceAll(k, "-", "_"))
		best, bestD := "", 3
		for h := range hostKeys {
			limit := 2
			if len(h) <= 4 {
				limit = 1
			}
			if d := editDistance(lk, h, 3); d <= limit && (d < bestD || d == bestD && h < best) {
				best, bestD = h, d
			}
		}
		if best != "" {
			out = append(out, fmt.Sprintf("key %q is not a host setting but looks like %q: a misspelling? (as it is, the plugin gets it as its own key)", k, best))
		}
	}
	return out
}

// editDistance is the edit distance of a and b (bytes; insertions, deletions,
// substitutions and transpositions of neighbours count one each), or limit when it is at
// least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	pp, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return min(prev[len(b)], limit)
}

// warnSuspicious logs Suspicious's warnings on the plugin's logger.
func (c *Config) warnSuspicious(log zerolog.Logger) {
	for _, w := range c.Suspicious() {
		log.Warn().Str("config", c.File).Msg(w)
	}
}
