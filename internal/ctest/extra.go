package ctest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// historySources are the sources of the history plugin (plugins/example_c/CMakeLists.txt,
// target slipstream_history, built with PostgreSQL support).
var historySources = []string{
	"plugins/example_c/history.c",
	"plugins/example_c/backend_sqlite.c",
	"plugins/example_c/backend_pg.c",
}

// HistoryPlugin compiles the history plugin of plugins/example_c (SQLite and PostgreSQL
// backends, linked with -lsqlite3 -lpq) as CMake does, and returns the library's path.
// It is compiled once per process. The test is skipped when there is no C compiler, and
// fails when the libsqlite3/libpq development files are missing (make deps installs them).
//
// With [PrebuiltEnv] set the test is skipped: the plugin needs SQLite and libpq built for
// the target, which make test-windows does not provide.
func HistoryPlugin(t testing.TB) string {
	t.Helper()
	skipPrebuilt(t, "the history plugin (plugins/example_c), which needs SQLite and libpq built for this system")
	root := Root(t)
	var flags []string
	if out, err := exec.Command("pkg-config", "--cflags", "libpq").Output(); err == nil {
		flags = append(flags, strings.Fields(string(out))...)
	} else if fi, err := os.Stat("/usr/include/postgresql"); err == nil && fi.IsDir() {
		flags = append(flags, "-I", "/usr/include/postgresql")
	}
	// The CMake target: C11 without extensions, -pedantic, hidden visibility (only the two
	// SLIPSTREAM_EXPORT entry points), and no undefined symbols on Linux.
	flags = append(flags, "-pedantic", "-fvisibility=hidden", "-I", filepath.Join(root, "plugins", "example_c"))
	if runtime.GOOS == "linux" {
		flags = append(flags, "-Wl,--no-undefined")
	}
	return buildSources(t, "libslipstream_history"+libExt(), historySources,
		append([]string{"-shared", "-fPIC"}, flags...), []string{"-lsqlite3", "-lpq"})
}

// buildSources is build for several sources, with libraries linked after them.
func buildSources(t testing.TB, out string, srcs, flags, libs []string) string {
	t.Helper()
	cc := CC(t)
	root := Root(t)
	key := out + "\x00" + strings.Join(srcs, "\x00") + "\x00" + strings.Join(flags, "\x00") + "\x00" + strings.Join(libs, "\x00")
	return cached(t, key, "build-", func(sub string) string {
		path := filepath.Join(sub, out)
		if err := compile(cc, runtime.GOOS, root, path, srcs, flags, libs); err != nil {
			t.Fatal(err)
		}
		return path
	})
}

// compile runs the C compiler cc for a target system goos: srcs (relative to root) into
// path, with the flags every test build uses, then the given ones, then libs.
func compile(cc, goos, root, path string, srcs, flags, libs []string) error {
	args := []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-g",
		"-I", filepath.Join(root, "include"), "-o", path}
	args = append(args, flags...)
	for _, s := range srcs {
		args = append(args, filepath.Join(root, s))
	}
	args = append(args, libs...)
	switch goos {
	case "linux":
		args = append(args, "-ldl", "-lpthread")
	case "windows":
		// mingw-w64: POSIX threads from winpthreads, linked in statically (as libgcc) so
		// that a test DLL depends on system DLLs only.
		args = append(args, "-static", "-lpthread")
	}
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("compiling %s: %v\n%s %s\n%s", strings.Join(srcs, " "), err, cc, strings.Join(args, " "), b)
	}
	return nil
}

// Cargo builds the Rust crate in crateDir (relative to the repository root) with
// `cargo build --release --offline --locked`, in the shared target directory
// <root>/build/cargo, and returns the path of a private copy (mode 0755, in a directory
// only the current user can write) of its cdylib lib<libName>.so (.dylib; <libName>.dll on
// Windows). Each crate is built once per process. The test is skipped when cargo is
// missing, and with [PrebuiltEnv] set (Rust plugins are not built for Windows here).
func Cargo(t testing.TB, crateDir, libName string) string {
	t.Helper()
	skipPrebuilt(t, "the Rust plugin "+crateDir+" (Rust plugins are not built for Windows here: no Windows target of the Rust standard library is installed)")
	cargo := tool(t, "CARGO", "cargo", "cargo", "the Rust plugins")
	root := Root(t)
	file := "lib" + libName + libExt()
	if runtime.GOOS == "windows" {
		file = libName + libExt()
	}
	return cached(t, "cargo\x00"+crateDir+"\x00"+libName, "cargo-", func(sub string) string {
		targetDir := filepath.Join(root, "build", "cargo")
		cmd := exec.Command(cargo, "build", "--release", "--offline", "--locked",
			"--manifest-path", filepath.Join(root, crateDir, "Cargo.toml"))
		cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+targetDir)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cargo build of %s: %v\n%s", crateDir, err, b)
		}
		dst := filepath.Join(sub, file)
		if err := copyFile(filepath.Join(targetDir, "release", file), dst, 0o755); err != nil {
			t.Fatalf("cargo build of %s: %v", crateDir, err)
		}
		return dst
	})
}

// copyFile copies src to a new file dst with the given mode (not subject to the umask).
func copyFile(src, dst string, mode os.FileMode) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Chmod(mode)
}

// GoCommand builds the Go command in pkg (a path relative to the repository root, such as
// "./cmd/slipstream") without cgo, as it ships, into the per-process directory and returns
// the executable's path. Built once per process.
//
// With [PrebuiltEnv] set it returns <folder>/<base name of pkg>.exe (make test-windows
// cross-compiles the command there) and skips the test when that file is missing.
func GoCommand(t testing.TB, pkg string) string {
	t.Helper()
	if d := prebuiltDir(); d != "" {
		p := filepath.Join(d, filepath.Base(pkg)+".exe")
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s=%s: no prebuilt command %s: %v", PrebuiltEnv, d, pkg, err)
		}
		return p
	}
	root := Root(t)
	return cached(t, "go\x00"+pkg, "gobuild-", func(sub string) string {
		out := filepath.Join(sub, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		return out
	})
}
