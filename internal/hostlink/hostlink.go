// Package hostlink is the internal path between finalize and host: the store holds a
// batch's events in C memory, in the ABI's layout (a [cabi.Arena]), and hands that memory
// to the plugin manager at commit, so that C plugins read the events the store wrote,
// without a second encoding. It is not public API: host.Manager's public
// BroadcastBatch([]abi.Event) stays the way for everyone else.
package hostlink

import "github.com/slipstream-go/slipstream/internal/cabi"

// Arena returns m's delivery of a held batch: a function that delivers a's events, in
// order, as one BroadcastBatch of them would (same subscriptions, counters, error
// policies; the same error). m is a *host.Manager; the function must not be called
// concurrently with a change of a, which the caller may reset once it returns.
//
// Package host sets it in its init, so it is set before any caller can have a manager.
var Arena func(m any) func(a *cabi.Arena) error
