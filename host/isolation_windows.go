//go:build windows

package host

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// passFiles makes the child inherit files (as handles) and returns the value of childEnv
// that names them.
func passFiles(cmd *exec.Cmd, files ...*os.File) string {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	hs := make([]string, len(files))
	for i, f := range files {
		cmd.SysProcAttr.AdditionalInheritedHandles = append(cmd.SysProcAttr.AdditionalInheritedHandles, syscall.Handle(f.Fd()))
		hs[i] = strconv.FormatUint(uint64(f.Fd()), 10)
	}
	return strings.Join(hs, ",")
}

// childFiles opens the pipe handles childEnv names (read, write).
func childFiles(v string) (in, out *os.File, err error) {
	return childPipes(v, "handles", func(p string) (uintptr, bool) {
		h, err := strconv.ParseUint(p, 10, 64)
		return uintptr(h), err == nil
	})
}

// exitCause says how a child ended: Windows has no signals, a crash is an exception code
// as the exit status ("exit code 0xC0000005").
func exitCause(st *os.ProcessState) string {
	code := uint32(st.ExitCode())
	if code >= 0xC0000000 {
		return fmt.Sprintf("exit code 0x%08X", code)
	}
	return fmt.Sprintf("exit status %d", code)
}
