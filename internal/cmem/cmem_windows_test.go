package cmem

import (
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// VirtualQuery's region states and types that x/sys/windows does not name.
const (
	memFree    = 0x10000
	memPrivate = 0x20000
)

// query returns what VirtualQuery says about the region holding addr.
func query(t *testing.T, addr uintptr) windows.MemoryBasicInformation {
	t.Helper()
	var mbi windows.MemoryBasicInformation
	if err := windows.VirtualQuery(addr, &mbi, unsafe.Sizeof(mbi)); err != nil {
		t.Fatalf("VirtualQuery(%#x): %v", addr, err)
	}
	return mbi
}

// TestVirtualAllocArena checks the arenas the host hands to C on Windows: committed,
// read-write, private pages of at least the size asked for, zeroed, starting on an
// allocation boundary (what VirtualFree(MEM_RELEASE) needs), and released by Free.
func TestVirtualAllocArena(t *testing.T) {
	for _, n := range []int{1, 4095, 4096, 4097, 1 << 20} {
		b, err := Alloc(n)
		if err != nil {
			t.Fatalf("Alloc(%d): %v", n, err)
		}
		if len(b) != n {
			t.Fatalf("Alloc(%d) has length %d", n, len(b))
		}
		addr := Addr(b)
		mbi := query(t, addr)
		if mbi.State != windows.MEM_COMMIT || mbi.Protect != windows.PAGE_READWRITE || mbi.Type != memPrivate {
			t.Errorf("Alloc(%d): state %#x protect %#x type %#x; want committed, read-write, private", n, mbi.State, mbi.Protect, mbi.Type)
		}
		if mbi.AllocationBase != addr || mbi.BaseAddress != addr {
			t.Errorf("Alloc(%d) at %#x is not the start of its allocation (%#x)", n, addr, mbi.AllocationBase)
		}
		if int(mbi.RegionSize) < n || mbi.RegionSize%4096 != 0 {
			t.Errorf("Alloc(%d): region of %d bytes", n, mbi.RegionSize)
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("Alloc(%d): byte %d is %#x, not zero", n, i, c)
			}
		}
		b[0], b[n-1] = 0xaa, 0x55 // writable at both ends
		Free(b)
		if after := query(t, addr); after.State != memFree {
			t.Errorf("after Free: state %#x, want MEM_FREE", after.State)
		}
	}
}

// TestVirtualAllocErrors: a size the system refuses is an error naming the size, and
// freeing a slice that is not what Alloc returned is programmer misuse (a panic), not a
// silent leak.
func TestVirtualAllocErrors(t *testing.T) {
	if _, err := Alloc(1 << 50); err == nil || !strings.Contains(err.Error(), "1125899906842624 bytes") {
		t.Errorf("Alloc(1<<50) = %v; want an error naming the size", err)
	}
	b := MustAlloc(8192)
	defer Free(b)
	defer func() {
		if recover() == nil {
			t.Error("Free of a slice that does not start an allocation did not panic")
		}
	}()
	Free(b[4096:])
}
