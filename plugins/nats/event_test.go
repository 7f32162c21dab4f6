package natsplugin_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	natsplugin "github.com/slipstream-go/slipstream/plugins/nats"
)

// goldenEvents are the events of testdata/event-json/golden.ndjson, the same as the Rust
// example's unit test (plugins/example_rust/src/lib.rs, events()).
var goldenEvents = []abi.Event{
	{Kind: abi.MappingUpdate, BlockHeight: 7, ProgramID: []byte("credits.aleo"), MappingName: []byte("account"), Key: []byte{0x00, 0xff, 0x10}, HasKey: true, Value: []byte{}},
	{Kind: abi.MappingRemoval, BlockHeight: 7, ProgramID: []byte("p"), MappingName: []byte("m"), Key: []byte{0xab}, HasKey: true},
	{Kind: abi.MappingRemoval, BlockHeight: 7, ProgramID: []byte("p"), MappingName: []byte("m")},
	{Kind: abi.StakingReward, BlockHeight: 7, Staker: []byte{1}, Validator: []byte{2}, Reward: 0, NewStake: math.MaxUint64},
	{Kind: abi.Block, BlockHeight: 7, Block: []byte{0xde, 0xad, 0xbe, 0xef}},
}

// Issue 17.3: the Go encoder writes the event JSON byte for byte as the Rust example
// plugin does: both are checked against the one golden file (the Rust side in its unit
// test), and every line is valid JSON.
func TestEventJSONGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "event-json", "golden.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := range goldenEvents {
		line := natsplugin.AppendJSON(nil, &goldenEvents[i])
		if !json.Valid(line) {
			t.Errorf("not JSON: %s", line)
		}
		got = append(append(got, line...), '\n')
	}
	if string(got) != string(want) {
		t.Errorf("Go encoder:\n%s\ngolden file:\n%s", got, want)
	}
}

// Issue 17.3: subjects: <prefix>.<kind> for staking rewards and blocks, and
// <prefix>.<kind>.<program hex>.<mapping hex> for mapping events (an empty token is "_").
func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		ev   abi.Event
		want string
	}{
		{goldenEvents[0], "slipstream.mapping_update.637265646974732e616c656f.6163636f756e74"},
		{goldenEvents[2], "slipstream.mapping_removal.70.6d"},
		{goldenEvents[3], "slipstream.staking_reward"},
		{goldenEvents[4], "slipstream.block"},
		{abi.Event{Kind: abi.MappingUpdate}, "slipstream.mapping_update._._"},
	} {
		if got := string(natsplugin.AppendSubject(nil, "slipstream", &tc.ev)); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.ev.Kind, got, tc.want)
		}
	}
	for _, s := range []string{"block", "Block", "mapping_removal", "MappingRemoval"} {
		if _, ok := natsplugin.ParseKind(s); !ok {
			t.Errorf("ParseKind(%q) failed", s)
		}
	}
	if _, ok := natsplugin.ParseKind("blocks"); ok {
		t.Error(`ParseKind("blocks") succeeded`)
	}
}
