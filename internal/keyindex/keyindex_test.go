package keyindex

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestIndex checks New's duplicate and Find against their definitions (the first j with an
// equal earlier key; the first entry with a key), for lists scanned, indexed in the caller's
// memory and in a table of their own, with duplicate and missing keys.
func TestIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 400; round++ {
		n := []int{0, 1, 5, 16, 17, 40, Stack / 2, Stack/2 + 1, 600}[round%9]
		key := func() []byte { return []byte{byte(rng.IntN(2*n + 1)), byte(rng.IntN(3))} }
		keys := make([][]byte, n)
		for i := range keys {
			keys[i] = key()
		}
		wi, wj := -1, -1
	outer:
		for j := range keys {
			for i := 0; i < j; i++ {
				if bytes.Equal(keys[i], keys[j]) {
					wi, wj = i, j
					break outer
				}
			}
		}
		var mem [Stack]int32
		x, i, j := New(n, func(i int) []byte { return keys[i] }, mem[:])
		if i != wi || j != wj {
			t.Fatalf("%d keys %x: duplicate %d, %d; want %d, %d", n, keys, i, j, wi, wj)
		}
		for q := 0; q < 50; q++ {
			k := key()
			want := -1
			for i := range keys {
				if bytes.Equal(keys[i], k) {
					want = i
					break
				}
			}
			if got := x.Find(k); got != want {
				t.Fatalf("%d keys: Find(%x) = %d, want %d", n, k, got, want)
			}
		}
	}
}

// TestNewNoAllocation: up to Stack/2 keys in the caller's memory, New and Find allocate nothing.
func TestNewNoAllocation(t *testing.T) {
	keys := make([][]byte, Stack/2)
	for i := range keys {
		keys[i] = []byte{byte(i), byte(i >> 8), 7}
	}
	key := func(i int) []byte { return keys[i] }
	if a := testing.AllocsPerRun(20, func() {
		var mem [Stack]int32
		x, _, j := New(len(keys), key, mem[:])
		if j >= 0 || x.Find(keys[100]) != 100 {
			panic("wrong")
		}
	}); a != 0 {
		t.Errorf("%v allocations per run, want 0", a)
	}
}
