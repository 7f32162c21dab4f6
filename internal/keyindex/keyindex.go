// Package keyindex finds byte strings by value among a list of them, for the hot paths that
// look up or check for duplicates a few hundred keys at a time (a chain line's staker sets,
// a replace_mapping's entries, a block's staking rewards): open addressing over the list's
// indexes, in memory the caller gives (an array on its stack), where a map[string] would
// copy every key into a string and allocate its table.
package keyindex

import (
	"bytes"
	"hash/maphash"
)

// scan is the length up to which an Index scans the list instead of building a table.
const scan = 16

// Stack is the table length that holds up to Stack/2 keys: an array of it on the caller's
// stack serves every list up to that size without an allocation.
const Stack = 512

var seed = maphash.MakeSeed()

// Index finds the first entry of a list with a key. Its zero value is not usable: see New.
type Index struct {
	n   int
	key func(i int) []byte
	tab []int32 // 1 + the index of a key's first entry; 0: free. A power of 2 long; nil: scan.
}

// New indexes the keys key(0), …, key(n-1), in a table carved from mem when it is long
// enough (else allocated; any mem works, nil included). It also returns the first duplicate:
// the indexes i < j of the first j whose key equals an earlier key i, or -1, -1.
//
// # Memory
//
// The Index keeps key and mem: both must outlive its use, and key's results must not change.
func New(n int, key func(i int) []byte, mem []int32) (x Index, dupI, dupJ int) {
	x = Index{n: n, key: key}
	dupI, dupJ = -1, -1
	if n <= scan {
		for j := 1; j < n && dupJ < 0; j++ {
			for i := 0; i < j; i++ {
				if bytes.Equal(key(i), key(j)) {
					dupI, dupJ = i, j
					break
				}
			}
		}
		return x, dupI, dupJ
	}
	size := 2 * scan
	for size < 2*n {
		size <<= 1
	}
	if size <= len(mem) {
		x.tab = mem[:size]
		clear(x.tab)
	} else {
		x.tab = make([]int32, size)
	}
	mask := uint64(size - 1)
	for j := 0; j < n; j++ {
		k := key(j)
		for h := maphash.Bytes(seed, k) & mask; ; h = (h + 1) & mask {
			e := x.tab[h]
			if e == 0 {
				x.tab[h] = int32(j + 1)
				break
			}
			if bytes.Equal(key(int(e-1)), k) {
				if dupJ < 0 {
					dupI, dupJ = int(e-1), j
				}
				break // the first entry stays
			}
		}
	}
	return x, dupI, dupJ
}

// Find returns the index of the first entry whose key is k, or -1.
func (x *Index) Find(k []byte) int {
	if x.tab == nil {
		for i := 0; i < x.n; i++ {
			if bytes.Equal(x.key(i), k) {
				return i
			}
		}
		return -1
	}
	mask := uint64(len(x.tab) - 1)
	for h := maphash.Bytes(seed, k) & mask; ; h = (h + 1) & mask {
		e := x.tab[h]
		if e == 0 {
			return -1
		}
		if bytes.Equal(x.key(int(e-1)), k) {
			return int(e - 1)
		}
	}
}
