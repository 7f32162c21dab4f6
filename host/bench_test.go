//go:build linux || darwin

package host_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ebitengine/purego"
	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/cmem"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

func noopManager(b *testing.B, batch bool) *host.Manager {
	b.Helper()
	var defines []string
	name := "noop"
	if batch {
		defines, name = []string{"-DNOOP_BATCH"}, "noop_batch"
	}
	dir := b.TempDir()
	lib := copyLib(b, pluginLib(b, name, defines...), dir, "libnoop.so")
	cfg := writeConfig(b, dir, "noop.json5", fmt.Sprintf("{libpath: %q}", filepath.Base(lib)))
	m := host.NewManager(host.WithLogger(zerolog.Nop())) // quiet: the output is parsed
	if _, err := m.LoadPlugin(cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Unload)
	return m
}

// bareCall returns the no-op test plugin's noop_call, a C function with on_broadcast's
// signature, and the address of memory outside the Go heap to pass it.
func bareCall(b *testing.B) (fn, p uintptr) {
	h, err := purego.Dlopen(pluginLib(b, "noop"), purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		b.Fatal(err)
	}
	if fn, err = purego.Dlsym(h, "noop_call"); err != nil {
		b.Fatal(err)
	}
	mem := cmem.MustAlloc(4096)
	b.Cleanup(func() { cmem.Free(mem) })
	return fn, cmem.Addr(mem)
}

// BenchmarkBareSyscallN is the floor: one purego.SyscallN of a C function with
// on_broadcast's signature, no host code at all.
func BenchmarkBareSyscallN(b *testing.B) {
	fn, p := bareCall(b)
	b.ReportAllocs()
	for b.Loop() {
		purego.SyscallN(fn, p, p, p)
	}
}

// BenchmarkBroadcastPaired measures issue 15's goal 2 side by side: each iteration times
// 256 bare SyscallN calls and 256 Broadcasts (BenchmarkBroadcast's), in alternating order;
// ratio is the median over the iterations of the Broadcasts' time over the bare calls'.
// The ratio of the two separate benchmarks carries the drift of a shared machine between
// them, which is as large as the difference measured.
func BenchmarkBroadcastPaired(b *testing.B) {
	const n = 256
	m := noopManager(b, false)
	fn, p := bareCall(b)
	bare := func() time.Duration {
		t0 := time.Now()
		for range n {
			purego.SyscallN(fn, p, p, p)
		}
		return time.Since(t0)
	}
	broadcast := func() time.Duration {
		t0 := time.Now()
		for range n {
			if err := m.Broadcast(ctest.BenchEvent); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	var ratios, bareNs, bcNs []float64
	for b.Loop() {
		var tb, tc time.Duration
		if len(ratios)%2 == 0 {
			tb, tc = bare(), broadcast()
		} else {
			tc, tb = broadcast(), bare()
		}
		ratios = append(ratios, float64(tc)/float64(tb))
		bareNs = append(bareNs, float64(tb.Nanoseconds())/n)
		bcNs = append(bcNs, float64(tc.Nanoseconds())/n)
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(bareNs), "bare-ns/call")
	b.ReportMetric(median(bcNs), "broadcast-ns/call")
}

// BenchmarkBroadcast: one event of four 32-byte fields to one C no-op plugin (on_broadcast).
func BenchmarkBroadcast(b *testing.B) {
	m := noopManager(b, false)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Broadcast(ctest.BenchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcastBatch: batches of N such events to a C no-op plugin with
// on_broadcast_batch; ns/event is the cost per event, encoding included.
func BenchmarkBroadcastBatch(b *testing.B) {
	for _, n := range []int{16, 256, 4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := noopManager(b, true)
			evs := ctest.BenchEvents(n)
			b.ReportAllocs()
			for b.Loop() {
				if err := m.BroadcastBatch(evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkHasSubscribers is the check a node makes before building an event.
func BenchmarkHasSubscribers(b *testing.B) {
	m := noopManager(b, false)
	var hits int
	for b.Loop() {
		if m.HasSubscribers(abi.Block) {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no subscriber")
	}
}

// BenchmarkFanOut: one Block event of 32 B to 1 MiB delivered to 1, 4 and 16 C no-op
// plugins. The block is copied once per broadcast, not once per plugin, so the cost grows
// with the number of plugins by one call each and with the size by one copy.
func BenchmarkFanOut(b *testing.B) {
	for _, plugins := range []int{1, 4, 16} {
		for _, size := range []int{32, 1 << 10, 64 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("plugins=%d/size=%s", plugins, byteSize(size)), func(b *testing.B) {
				dir := b.TempDir()
				lib := pluginLib(b, "noop_batch", "-DNOOP_BATCH")
				m := host.NewManager(host.WithLogger(zerolog.Nop())) // quiet: the output is parsed
				b.Cleanup(m.Unload)
				for i := 0; i < plugins; i++ {
					name := fmt.Sprintf("libnoop%d.so", i)
					copyLib(b, lib, dir, name)
					cfg := writeConfig(b, dir, fmt.Sprintf("noop%d.json5", i), fmt.Sprintf("{libpath: %q, name: 'noop%d'}", name, i))
					if _, err := m.LoadPlugin(cfg); err != nil {
						b.Fatal(err)
					}
				}
				ev := abi.Event{Kind: abi.Block, BlockHeight: 1, Block: make([]byte, size)}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := m.Broadcast(ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
