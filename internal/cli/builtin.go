package cli

import (
	"github.com/slipstream-go/slipstream/host"
	natsplugin "github.com/slipstream-go/slipstream/plugins/nats"
)

// The command's built-in Go plugins, loaded from a config with builtin: "<name>" instead
// of libpath (by replay, check and the admin API alike).
func init() {
	host.RegisterBuiltin("nats", func() host.Plugin { return natsplugin.New(natsplugin.Options{}) })
}
