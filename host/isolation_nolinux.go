//go:build !linux

package host

import "os"

// growPipe does nothing: only Linux lets a pipe's buffer grow.
func growPipe(*os.File) {}
