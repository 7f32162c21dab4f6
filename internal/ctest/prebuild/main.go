// Command prebuild compiles every test plugin of ctest.Variants with a cross compiler into
// one folder, for tests that run where no C compiler is at hand: make test-windows builds
// the DLLs with mingw-w64 and runs the Windows test binaries under Wine with
// SLIPSTREAM_TEST_PLUGINS naming the folder.
//
//	go run ./internal/ctest/prebuild -cc x86_64-w64-mingw32-gcc -goos windows -o build/windows/plugins
//
// Run it from the repository's root.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

func main() {
	cc := flag.String("cc", "x86_64-w64-mingw32-gcc", "the C compiler for the target system")
	goos := flag.String("goos", "windows", "the target system (GOOS)")
	out := flag.String("o", "", "the folder to build into (created)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: prebuild [-cc CC] [-goos GOOS] -o DIR")
		os.Exit(2)
	}
	ext := map[string]string{"windows": ".dll", "darwin": ".dylib"}[*goos]
	if ext == "" {
		ext = ".so"
	}
	root, err := os.Getwd()
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prebuild: run it from the repository's root: %v\n", err)
		os.Exit(2)
	}
	dir, err := filepath.Abs(*out)
	if err == nil {
		err = ctest.BuildVariants(*cc, *goos, ext, root, dir, ctest.Variants)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prebuild: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("prebuild: %d test plugins in %s\n", len(ctest.Variants), dir)
}
