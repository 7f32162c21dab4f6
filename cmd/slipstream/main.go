// Command slipstream replays a chain into Slipstream plugins, generates synthetic chains,
// checks plugins and queries the history plugin's database. See README.md beside this file;
// the logic lives in internal/cli.
package main

import (
	"os"

	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/cli"
)

func main() {
	host.ServeIsolated() // serves as the child process of plugins with isolation "process"
	os.Exit(cli.Main())
}
