package host

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
)

// TestWireRoundTrip: events, acks and errors cross the pipe unchanged, and every
// truncation of a frame's payload is refused instead of read past its end.
func TestWireRoundTrip(t *testing.T) {
	evs := []abi.Event{
		{Kind: abi.MappingUpdate, BlockHeight: 7, ProgramID: []byte("prog"), MappingName: []byte("map"), Key: []byte{1}, HasKey: true, Value: []byte{2, 3}},
		{Kind: abi.MappingRemoval, BlockHeight: 8, ProgramID: []byte("p")},
		{Kind: abi.StakingReward, BlockHeight: 9, Staker: []byte("s"), Validator: []byte("v"), Reward: 1 << 40, NewStake: 3},
		{Kind: abi.Block, BlockHeight: 1<<32 - 1, Block: bytes.Repeat([]byte{9}, 1000)},
	}
	var e enc
	e.start(frameBatch)
	e.u32(uint32(len(evs)))
	for i := range evs {
		e.event(&evs[i])
	}
	typ, p, _, err := readFrame(bufio.NewReader(bytes.NewReader(e.finish())), nil)
	if err != nil || typ != frameBatch {
		t.Fatalf("readFrame: %v %q", err, typ)
	}
	d := dec{b: p}
	if got := d.events(nil); d.bad || !reflect.DeepEqual(got, evs) {
		t.Fatalf("events: bad %v\n got %+v\nwant %+v", d.bad, got, evs)
	}
	for n := 0; n < len(p); n++ {
		d := dec{b: p[:n]}
		if d.events(nil); !d.bad {
			t.Fatalf("a payload cut at %d of %d bytes was accepted", n, len(p))
		}
	}

	a := ack{calls: 3, errors: 1, consecutive: 2, halted: true, tripped: true, stop: causeFailed, failed: 4, kinds: abi.MaskAll,
		delivered: [abi.KindCount]uint32{1, 2, 3, 4}, first: firstFailure{callback: "on_broadcast", code: -1, msg: "no"}, latSum: 99}
	a.lat[3], a.lat[31] = 5, 6
	e.start(frameAck)
	e.ack(&a)
	d = dec{b: e.finish()[5:]}
	if got := d.ack(); d.bad || !reflect.DeepEqual(got, a) {
		t.Fatalf("ack: bad %v\n got %+v\nwant %+v", d.bad, got, a)
	}

	e.start(frameError)
	e.err(&LoadError{Config: "/c", Err: ErrOnLoad})
	d = dec{b: e.finish()[5:]}
	if got := d.err(); !errors.Is(got, ErrOnLoad) || got.Error() != (&LoadError{Config: "/c", Err: ErrOnLoad}).Error() {
		t.Fatalf("error: %v", got)
	}
	if _, _, _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{0, 0, 0, 0})), nil); !errors.Is(err, errFrame) {
		t.Fatalf("an empty frame: %v", err)
	}
}
