// Command slipstream replays a chain into Slipstream plugins, generates synthetic chains,
// checks plugins and queries the history plugin's database. See README.md beside this file;
// the logic lives in internal/cli.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/cli"
)

func main() {
	host.ServeIsolated() // serves as the child process of plugins with isolation "process"
	os.Exit(profiled(os.Getenv("SLIPSTREAM_CPUPROFILE"), cli.Main))
}

// profiled runs the command; with a file name (SLIPSTREAM_CPUPROFILE) it writes the
// command's CPU profile there (go tool pprof reads it), for a performance report: make bench
// profiles its replays so. A profile that cannot be written fails the command (exit 2)
// before it runs.
func profiled(path string, run func() int) int {
	if path == "" {
		return run()
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "slipstream: SLIPSTREAM_CPUPROFILE: %v\nunset it, or name a file that can be written\n", err)
		return 2
	}
	code := run()
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "slipstream: SLIPSTREAM_CPUPROFILE: %v\n", err)
	}
	return code
}
