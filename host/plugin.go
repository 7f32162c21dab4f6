package host

import "github.com/slipstream-go/slipstream/abi"

// Plugin is a Go-native plugin, linked into the node and added with Manager.Register. It
// mirrors snarkVM's SlipstreamPlugin trait and the C vtable.
//
// # Threading
//
// The manager never calls one plugin concurrently; calls may come from different
// goroutines. OnBroadcast runs on the node's finalization path (delivery "sync") or on the
// plugin's worker goroutine (delivery "async").
//
// # Memory
//
// The byte slices of the event passed to OnBroadcast are borrowed: copy what you keep
// after OnBroadcast returns.
type Plugin interface {
	// Name is the plugin's name, unless its config's name overrides it.
	Name() string
	// OnLoad reads the plugin's config; configFile is "" when registered without one. An
	// error aborts the registration.
	OnLoad(configFile string, isReload bool) error
	// OnUnload flushes and releases what OnLoad opened.
	OnUnload()
	// SubscribedEvents returns the kinds the plugin wants; read once after OnLoad.
	SubscribedEvents() abi.EventMask
	// OnBroadcast receives one event of a subscribed kind. An error is logged and counted
	// (error_policy log), or handled as the plugin's error policy says.
	OnBroadcast(ev abi.Event) error
}
