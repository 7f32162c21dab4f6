//go:build unix

package host

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// checkNotWritableByOthers refuses a file, or a directory holding it, that group or
// others may write (a sticky directory such as /tmp is fine: others cannot replace a file
// they do not own there).
func checkNotWritableByOthers(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLibraryLoad, err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v; run chmod go-w on it, or set allow_insecure: true in the config if you accept the risk", ErrInsecure, path, fi.Mode().Perm())
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLibraryLoad, err)
	}
	if di.Mode().Perm()&0o022 != 0 && di.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%w: directory %s (holding %s) has mode %v; run chmod go-w on it, or set allow_insecure: true in the config if you accept the risk", ErrInsecure, dir, filepath.Base(path), di.Mode().Perm())
	}
	return nil
}

// fdPath returns a path that opens exactly the file f refers to (Linux: /proc/self/fd/N).
func fdPath(f *os.File) (string, bool) {
	if runtime.GOOS != "linux" {
		return "", false
	}
	p := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}
