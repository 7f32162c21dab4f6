// Command slipstream replays a chain into Slipstream plugins, generates synthetic chains,
// checks plugins and queries the history plugin's database. See README.md beside this file;
// the logic lives in internal/cli.
package main

import (
	"os"

	"github.com/slipstream-go/slipstream/internal/cli"
)

func main() { os.Exit(cli.Main()) }
