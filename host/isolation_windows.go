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
	var hs [2]uint64
	parts := strings.Split(v, ",")
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%s=%q: want two handles", childEnv, v)
	}
	for i, p := range parts {
		if hs[i], err = strconv.ParseUint(p, 10, 64); err != nil {
			return nil, nil, fmt.Errorf("%s=%q: want two handles", childEnv, v)
		}
	}
	return os.NewFile(uintptr(hs[0]), "node-to-child"), os.NewFile(uintptr(hs[1]), "child-to-node"), nil
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
