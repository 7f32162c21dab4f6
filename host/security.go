package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// checkedLib is a plugin library whose files were checked before the manager's lock is
// taken: nothing that can block on a file (a FIFO, a slow disk) runs while holding m.mu,
// which admin requests and Shutdown wait for.
type checkedLib struct {
	real     string      // the library's resolved absolute path
	info     os.FileInfo // its identity (os.SameFile: device and inode, however it is reached)
	openPath string      // what the system loader opens: real, or a private copy of the pinned bytes
	remove   func()      // removes the private copy (idempotent); never nil
	err      error       // the *LoadError of the checks, if they failed
}

// prepareLib runs checkLibrary for cfg and keeps the result for loadNative. It returns the
// checks' error (a *LoadError), which loadNative would return too.
func (c *Config) prepareLib() error {
	c.lib = checkLibrary(c)
	return c.lib.err
}

// releaseLib removes what prepareLib made when loadNative did not consume it.
func (c *Config) releaseLib() {
	if l := c.lib; l != nil {
		l.remove()
		c.lib = nil
	}
}

// checkLibrary applies the load-time rules to the library cfg names, before it is opened:
//
//   - the library and the config must be regular files (a FIFO is refused at once);
//   - unless the config says allow_insecure: true, the library, the config and every
//     directory up to / must be owned by root or the node's user and not writable by group
//     or others, as OpenSSH's StrictModes (a sticky directory such as /tmp is fine when the
//     entry in it is owned by root or the node's user): see checkOwnership;
//   - the library's headers must describe a complete shared library for this platform;
//   - with sha256 set, the hash must match, and what is loaded is exactly what was hashed.
func checkLibrary(cfg *Config) *checkedLib {
	l := &checkedLib{remove: func() {}}
	fail := func(err error) *checkedLib {
		l.remove()
		l.err = &LoadError{Config: cfg.File, Plugin: cfg.Name, Err: err}
		return l
	}
	real, err := filepath.EvalSymlinks(cfg.LibPath)
	if err != nil {
		return fail(fmt.Errorf("%w: %s: %v (libpath is resolved relative to the config's directory)", ErrLibraryLoad, cfg.LibPath, err))
	}
	if real, err = filepath.Abs(real); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrLibraryLoad, err))
	}
	l.real, l.openPath = real, real
	f, err := openRegular(real)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrLibraryLoad, err))
	}
	defer f.Close()
	if l.info, err = f.Stat(); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrLibraryLoad, err))
	}
	if !cfg.AllowInsecure {
		if err := checkOwnership(real, l.info); err != nil {
			return fail(err)
		}
		conf, err := filepath.EvalSymlinks(cfg.File)
		if err == nil {
			var ci os.FileInfo
			if ci, err = os.Stat(conf); err == nil {
				err = checkOwnership(conf, ci)
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := checkLibraryFile(f, real, l.info.Size()); err != nil {
		return fail(err)
	}
	if cfg.SHA256 == "" {
		return l
	}
	if l.openPath, l.remove, err = pinnedCopy(f, real, cfg.SHA256); err != nil {
		return fail(err)
	}
	return l
}

// pinnedSeq numbers the private copies of pinned libraries: no two loads in a process ever
// use the same path.
var pinnedSeq atomic.Uint64

// hashTo copies f (from its start) into w while hashing it, and checks the hash against
// the pin want.
func hashTo(f *os.File, w io.Writer, lib, want string) error {
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, w), io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return fmt.Errorf("%w: reading %s to check its sha256: %v", ErrLibraryLoad, lib, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %s has sha256 %s, the config pins %s (rebuild, or update sha256 after checking the new library)", ErrHashMismatch, lib, got, want)
	}
	return nil
}
