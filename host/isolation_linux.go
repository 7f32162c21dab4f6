package host

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe asks for a 1 MiB pipe buffer (Linux's default is 64 KiB): a round of a few
// thousand events then crosses in one or two writes instead of a dozen context switches.
// Failing (a lower /proc/sys/fs/pipe-max-size) only costs speed.
func growPipe(f *os.File) {
	if sc, err := f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
	}
}
