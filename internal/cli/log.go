package cli

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// logLevels are the values --log-level accepts.
const logLevels = "trace, debug, info, warn, error, disabled"

// newLogger returns a zerolog logger writing to w at level: human-readable (console
// writer) when console is set, JSON lines otherwise.
func newLogger(w io.Writer, level string, console bool) (zerolog.Logger, error) {
	lv, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("invalid --log-level %q (want one of %s)", level, logLevels)
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lv).With().Timestamp().Logger(), nil
}

// versionString describes the build (module version and VCS revision when known).
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "slipstream (unknown version)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return "slipstream " + v + " " + bi.GoVersion
}
