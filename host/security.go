package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// checkFiles applies the load-time security rules to a plugin about to be opened:
//
//   - the library and the config file, and the directories holding them, must not be
//     writable by group or others (a writable library is a code-injection path), unless the
//     config says allow_insecure: true;
//   - with sha256 set, the library's hash must match, and what is hashed is what is opened
//     (on Linux the library is opened through the very file descriptor that was hashed).
//
// It returns the path to pass to the loader and a release function to call once the
// library is open (or failed to).
func checkFiles(cfg *Config, lib string) (openPath string, release func(), err error) {
	nothing := func() {}
	if !cfg.AllowInsecure {
		for _, p := range []string{lib, cfg.File} {
			if err := checkNotWritableByOthers(p); err != nil {
				return "", nothing, err
			}
		}
	}
	if cfg.SHA256 == "" {
		return lib, nothing, nil
	}
	f, err := os.Open(lib)
	if err != nil {
		return "", nothing, fmt.Errorf("%w: %v", ErrLibraryLoad, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return "", nothing, fmt.Errorf("%w: reading %s to check its sha256: %v", ErrLibraryLoad, lib, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != cfg.SHA256 {
		f.Close()
		return "", nothing, fmt.Errorf("%w: %s has sha256 %s, the config pins %s (rebuild, or update sha256 after checking the new library)", ErrHashMismatch, lib, got, cfg.SHA256)
	}
	p, ok := fdPath(f)
	if !ok {
		f.Close()
		return lib, nothing, nil
	}
	return p, func() { f.Close() }, nil
}
