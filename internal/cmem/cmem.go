// Package cmem allocates memory outside the Go heap.
//
// The host hands C plugins pointers to events, strings and its own structs. Memory the Go
// garbage collector manages may move or be freed while C holds a pointer to it, and cgo's
// pointer rules (which purego does not check) forbid passing it unpinned. Memory from this
// package is never scanned, moved or freed by Go: C may read it for as long as the owner
// keeps it, and the owner frees it explicitly with [Free].
package cmem

import (
	"fmt"
	"unsafe"
)

// Alloc returns n zeroed bytes outside the Go heap, rounded up to whole pages. It panics if
// n <= 0 (programmer misuse) and returns an error if the system refuses the mapping.
func Alloc(n int) ([]byte, error) {
	if n <= 0 {
		panic(fmt.Sprintf("cmem: Alloc(%d)", n))
	}
	b, err := alloc(n)
	if err != nil {
		return nil, fmt.Errorf("cmem: allocating %d bytes outside the Go heap: %w", n, err)
	}
	return b, nil
}

// MustAlloc is Alloc for sizes the program cannot run without; it panics on failure.
func MustAlloc(n int) []byte {
	b, err := Alloc(n)
	if err != nil {
		panic(err)
	}
	return b
}

// Free releases memory from Alloc. b must be exactly the slice Alloc returned (its full
// capacity is released). Free(nil) does nothing.
func Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	if err := free(b[:cap(b)]); err != nil {
		panic(fmt.Sprintf("cmem: Free: %v", err)) // a wrong slice is programmer misuse
	}
}

// Addr returns the address of b's first byte, or 0 for an empty slice.
func Addr(b []byte) uintptr {
	if cap(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

// CString copies s into dst as a NUL-terminated string and returns the bytes used
// (len(s)+1). It panics if dst is too small or s contains a NUL byte.
func CString(dst []byte, s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			panic("cmem: CString: string contains a NUL byte")
		}
	}
	n := copy(dst, s)
	dst[n] = 0
	return n + 1
}

// GoString reads the NUL-terminated string at p, at most max bytes. p must point to
// readable memory (C memory or memory from Alloc).
func GoString(p uintptr, max int) string {
	if p == 0 {
		return ""
	}
	b := unsafe.Slice((*byte)(Pointer(p)), max)
	n := 0
	for n < max && b[n] != 0 {
		n++
	}
	return string(b[:n])
}

// Pointer converts an address of memory outside the Go heap (C memory, or memory from
// Alloc) to an unsafe.Pointer. Never use it for an address of Go memory: the collector
// may have moved or freed that object.
func Pointer(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
