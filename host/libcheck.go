package host

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"io"
	"runtime"
)

// checkLibraryFile reads the library's headers before it is handed to the system loader.
// A truncated or corrupt shared library can crash dlopen itself (SIGBUS when the loader maps
// a segment past the end of the file), which would take the node down; a library for
// another platform fails with a vague loader message. Both become a clear ErrLibraryLoad.
// It reads the open file r (of size bytes) that path names.
func checkLibraryFile(r io.ReaderAt, path string, fileSize int64) error {
	size := uint64(fileSize)
	switch runtime.GOOS {
	case "darwin":
		f, err := macho.NewFile(r)
		if err != nil {
			if _, ferr := macho.NewFatFile(r); ferr == nil {
				return nil
			}
			return fmt.Errorf("%w: %s is not a Mach-O shared library: %v", ErrLibraryLoad, path, err)
		}
		defer f.Close()
		for _, l := range f.Loads {
			if s, ok := l.(*macho.Segment); ok && s.Offset+s.Filesz > size {
				return fmt.Errorf("%w: %s is truncated (segment %s ends at %d, the file has %d bytes)", ErrLibraryLoad, path, s.Name, s.Offset+s.Filesz, size)
			}
		}
		return nil
	case "windows":
		f, err := pe.NewFile(r)
		if err != nil {
			return fmt.Errorf("%w: %s is not a DLL: %v", ErrLibraryLoad, path, err)
		}
		defer f.Close()
		for _, s := range f.Sections {
			if end := uint64(s.Offset) + uint64(s.Size); s.Size > 0 && end > size {
				return fmt.Errorf("%w: %s is truncated (section %s ends at %d, the file has %d bytes)", ErrLibraryLoad, path, s.Name, end, size)
			}
		}
		return nil
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("%w: %s is not an ELF shared library: %v", ErrLibraryLoad, path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: %s is an ELF %v, not a shared library (build it with -shared)", ErrLibraryLoad, path, f.Type)
	}
	if want, ok := elfMachine[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%w: %s is built for %v, this host runs on %s", ErrLibraryLoad, path, f.Machine, runtime.GOARCH)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off+p.Filesz > size {
			return fmt.Errorf("%w: %s is truncated (a segment ends at byte %d, the file has %d): rebuild or recopy it", ErrLibraryLoad, path, p.Off+p.Filesz, size)
		}
	}
	return nil
}

var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "loong64": elf.EM_LOONGARCH,
}
