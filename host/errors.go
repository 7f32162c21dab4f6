package host

import (
	"errors"
	"fmt"

	"github.com/slipstream-go/slipstream/abi"
)

// Sentinel errors, matched with errors.Is. Every error the manager returns wraps one of
// them and names the config file or plugin it concerns.
var (
	// ErrConfigRead: the config file cannot be opened or read, is not a regular file, or is
	// larger than MaxConfigSize.
	ErrConfigRead = errors.New("cannot read plugin config")
	// ErrConfigSyntax: the config file is not valid JSON5 (or not a JSON5 object).
	ErrConfigSyntax = errors.New("invalid JSON5 in plugin config")
	// ErrConfigInvalid: a host setting in the config has a wrong type or value.
	ErrConfigInvalid = errors.New("invalid plugin config")
	// ErrInvalidName: a plugin name (the config's name or the plugin's own) is not
	// printable UTF-8, or is longer than MaxNameLen bytes. It comes wrapped together with
	// ErrConfigInvalid (the config's name) or ErrInvalidPlugin (the plugin's own name).
	ErrInvalidName = errors.New("invalid plugin name")
	// ErrNoLibpath: the config does not set libpath.
	ErrNoLibpath = errors.New("libpath not set in plugin config")
	// ErrLibraryLoad: the library cannot be loaded (missing, not a shared library, …).
	ErrLibraryLoad = errors.New("plugin library cannot be loaded")
	// ErrSymbolMissing: the library lacks an entry point (slipstream_abi_version, _create_plugin).
	ErrSymbolMissing = errors.New("plugin library lacks a Slipstream entry point")
	// ErrIncompatibleABI: the plugin was built for an ABI version this host cannot serve.
	ErrIncompatibleABI = errors.New("incompatible plugin ABI version")
	// ErrInvalidPlugin: the plugin broke the ABI while loading (_create_plugin returned NULL,
	// name() NULL or empty, vtable too small, subscriptions without a broadcast callback).
	ErrInvalidPlugin = errors.New("invalid plugin")
	// ErrAlreadyLoaded: a plugin with the same library file (same device and inode, however
	// it is reached) or the same name is loaded.
	ErrAlreadyLoaded = errors.New("plugin already loaded")
	// ErrNotLoaded: no plugin of that name is loaded.
	ErrNotLoaded = errors.New("plugin not loaded")
	// ErrOnLoad: the plugin's on_load (OnLoad) returned an error.
	ErrOnLoad = errors.New("plugin on_load failed")
	// ErrResumeHeight: the plugin's resume_height (ResumeHeight) returned an error; the
	// load fails as if on_load had.
	ErrResumeHeight = errors.New("plugin resume_height failed")
	// ErrInsecure: the library, the config or a directory above them is owned by another
	// user or writable by group or others (see allow_insecure).
	ErrInsecure = errors.New("plugin file is writable by other users")
	// ErrHashMismatch: the library's SHA-256 differs from the config's sha256 pin.
	ErrHashMismatch = errors.New("plugin library hash mismatch")
	// ErrOnUnload: the plugin's on_unload (OnUnload) failed: a Go panic, or an error-level
	// line a C plugin logged during on_unload.
	ErrOnUnload = errors.New("plugin on_unload failed")
	// ErrHalted: a plugin with error_policy "halt" failed; the node should stop.
	ErrHalted = errors.New("plugin failed with error_policy halt")
	// ErrClosed: the manager has been shut down with Unload.
	ErrClosed = errors.New("plugin manager is shut down")
)

// LoadError reports a failure to load, register or reload a plugin. It names the config
// file (and the plugin, when known) and wraps the cause, which matches one of the sentinel
// errors above.
type LoadError struct {
	Config string // the config file, absolute when it could be resolved; "" for Register without config
	Plugin string // the plugin's name, when known
	Err    error  // the cause
}

func (e *LoadError) Error() string {
	switch {
	case e.Plugin != "" && e.Config != "":
		return fmt.Sprintf("plugin %q (config %s): %v", e.Plugin, e.Config, e.Err)
	case e.Config != "":
		return fmt.Sprintf("plugin config %s: %v", e.Config, e.Err)
	default:
		return fmt.Sprintf("plugin %q: %v", e.Plugin, e.Err)
	}
}

func (e *LoadError) Unwrap() error { return e.Err }

// ABIError reports a plugin built for an ABI version this host cannot serve. It matches
// ErrIncompatibleABI.
type ABIError struct {
	Library string // the library's path
	Plugin  uint32 // the version the plugin reports (slipstream_abi_version)
	Host    uint32 // abi.Version
}

func (e *ABIError) Error() string {
	why := "its major version differs"
	if e.Plugin>>16 == e.Host>>16 {
		why = "its minor version is newer than the host's"
	}
	return fmt.Sprintf("%s: plugin ABI %s, host ABI %s: %s; rebuild the plugin against a slipstream.h of ABI %d.x (minor <= %d)",
		e.Library, abi.VersionString(e.Plugin), abi.VersionString(e.Host), why, e.Host>>16, e.Host&0xFFFF)
}

// Is reports whether target is ErrIncompatibleABI.
func (e *ABIError) Is(target error) bool { return target == ErrIncompatibleABI }

// CallbackError reports the failed plugin callbacks of one delivery (one Broadcast or
// BroadcastBatch, or one round of an async queue): a non-zero return (with the message the
// plugin wrote), a Go error, or a recovered panic of a Go-native plugin. Code, Message and
// Err are the first failure's. Broadcast returns one (matching ErrHalted) only for
// plugins with error_policy "halt".
type CallbackError struct {
	Plugin      string
	Callback    string        // "on_broadcast", "on_broadcast_batch", "OnBroadcast", …
	Code        int32         // the C return value; 0 for Go-native plugins
	Message     string        // what the plugin said, possibly ""
	Halt        bool          // the plugin's error_policy is halt
	Err         error         // a Go-native plugin's error, if any
	Kinds       abi.EventMask // the kinds of the events whose callback failed
	FirstHeight uint32        // block height of the first event of the delivery
	LastHeight  uint32        // block height of its last event
	Failed      int           // events whose callback failed (a failed batch call counts all its events)
	Events      int           // events of the delivery handed to the plugin
}

func (e *CallbackError) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if msg == "" {
		msg = "(no message)"
	}
	what := e.Callback + " failed"
	if e.Code != 0 {
		what = fmt.Sprintf("%s returned %d", e.Callback, e.Code)
	}
	var where string
	switch {
	case e.Events == 1:
		where = fmt.Sprintf(" (%v at height %d)", e.Kinds, e.FirstHeight)
	case e.Events > 1:
		where = fmt.Sprintf(" for %d of %d events (%v, heights %d to %d)", e.Failed, e.Events, e.Kinds, e.FirstHeight, e.LastHeight)
	}
	return fmt.Sprintf("plugin %q: %s%s: %s", e.Plugin, what, where, msg)
}

// Unwrap returns the Go-native plugin's error, if any.
func (e *CallbackError) Unwrap() error { return e.Err }

// Is reports whether target is ErrHalted and the plugin's policy is halt.
func (e *CallbackError) Is(target error) bool { return target == ErrHalted && e.Halt }
