//go:build unix

package host

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// openNonBlocking makes openRegular's open return at once on a FIFO (which would otherwise
// wait for a writer); it changes nothing for a regular file.
const openNonBlocking = syscall.O_NONBLOCK

// checkOwnership refuses path (absolute, symlinks resolved; fi is its FileInfo) unless it
// and every directory up to / are owned by root or the node's (effective) user and not
// writable by group or others, as OpenSSH's StrictModes: anyone who can write a directory
// above a plugin can rename it away and put their own library and config in its place. A
// writable directory with the sticky bit (such as /tmp) is accepted when the entry in it
// is owned by root or the node's user, since others cannot rename or remove that entry.
func checkOwnership(path string, fi os.FileInfo) error {
	uid := uint32(os.Geteuid())
	owner := func(fi os.FileInfo) uint32 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return st.Uid
		}
		return uid
	}
	trusted := func(fi os.FileInfo) bool { o := owner(fi); return o == 0 || o == uid }
	const fix = "or set allow_insecure: true in the config if you accept the risk"
	if !trusted(fi) {
		return fmt.Errorf("%w: %s is owned by uid %d, not by root or the node's user (uid %d): chown it, %s", ErrInsecure, path, owner(fi), uid, fix)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v: run chmod go-w on it, %s", ErrInsecure, path, fi.Mode().Perm(), fix)
	}
	child, ci := path, fi
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		di, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrLibraryLoad, err)
		}
		if !trusted(di) {
			return fmt.Errorf("%w: directory %s (holding %s) is owned by uid %d, not by root or the node's user (uid %d): chown it, %s", ErrInsecure, dir, path, owner(di), uid, fix)
		}
		if di.Mode().Perm()&0o022 != 0 {
			if di.Mode()&os.ModeSticky == 0 {
				return fmt.Errorf("%w: directory %s (holding %s) has mode %v, so others can replace what it holds: run chmod go-w on it, %s", ErrInsecure, dir, path, di.Mode().Perm(), fix)
			}
			if !trusted(ci) {
				return fmt.Errorf("%w: %s in the shared sticky directory %s is owned by uid %d, not by root or the node's user (uid %d): chown it, %s", ErrInsecure, child, dir, owner(ci), uid, fix)
			}
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
		child, ci = dir, di
	}
}

// pinnedCopy copies the pinned library f into a private file while hashing it, checks the
// hash, and returns the copy's path for the system loader and a function that removes it
// (call it once the library is open: the mapping stays).
//
// Why a copy under a fresh name: the loader returns a library already loaded under the
// same name instead of opening the file. Opening the hashed descriptor as /proc/self/fd/N
// (as before) makes the second pinned plugin run the first one's code when it gets the
// same descriptor number; keeping each descriptor open for the library's lifetime is not
// enough either, because a library that stays resident after dlclose (RTLD_NODELETE, or a
// C++/Rust library with thread-local destructors) keeps its /proc/self/fd/N name in the
// loader's list after the descriptor is closed. A memfd would be reached as
// /proc/self/fd/N as well. The copy lives in a new 0700 directory (only the node's user
// can change it between the hash and the open) under a name made unique within the
// process by a sequence number, so it can never collide; its inode stays alive as long as
// the library is mapped, so the loader's device/inode check cannot collide either. The
// copy is what was hashed, byte for byte. ($TMPDIR must allow executable mappings.)
func pinnedCopy(f *os.File, lib, want string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "slipstream-pinned-")
	if err != nil {
		return "", func() {}, fmt.Errorf("%w: making a private copy of the pinned %s: %v", ErrLibraryLoad, lib, err)
	}
	remove := func() { os.RemoveAll(dir) }
	p := filepath.Join(dir, fmt.Sprintf("%d-%s", pinnedSeq.Add(1), filepath.Base(lib)))
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o500)
	if err != nil {
		remove()
		return "", func() {}, fmt.Errorf("%w: making a private copy of the pinned %s: %v", ErrLibraryLoad, lib, err)
	}
	err = hashTo(f, out, lib, want)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: writing the private copy %s: %v", ErrLibraryLoad, p, cerr)
	}
	if err != nil {
		remove()
		return "", func() {}, err
	}
	return p, remove, nil
}
