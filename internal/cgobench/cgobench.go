//go:build cgobench

// Package cgobench is the cgo baseline of the benchmarks: the same no-op plugin callbacks
// as testdata/plugins/noop.c, called through cgo instead of purego. It exists only under
// the cgobench build tag (make bench sets it); the product never uses cgo.
package cgobench

/*
#include <stdint.h>
#include "../../include/slipstream.h"

static uint64_t seen;

static int32_t noop_broadcast(const slipstream_event *e) {
    seen += e->kind + 1;
    return SLIPSTREAM_OK;
}

static int32_t noop_batch(const slipstream_event *evs, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) seen += evs[i].kind + 1;
    return SLIPSTREAM_OK;
}
*/
import "C"

import (
	"github.com/slipstream-go/slipstream/internal/cmem"
)

// Broadcast calls the no-op on_broadcast through cgo with the event at ev (memory outside
// the Go heap, e.g. an cabi.Arena's).
func Broadcast(ev uintptr) int32 {
	return int32(C.noop_broadcast((*C.slipstream_event)(cmem.Pointer(ev))))
}

// BroadcastBatch calls the no-op on_broadcast_batch through cgo.
func BroadcastBatch(evs uintptr, n int) int32 {
	return int32(C.noop_batch((*C.slipstream_event)(cmem.Pointer(evs)), C.uint64_t(n)))
}
