package host_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// FuzzEncoderRoundTrip sends arbitrary events through the host's encoders (a batch's and
// Broadcast's single-event path) to the C recorder and checks that the recorder saw exactly
// the bytes and numbers that were sent.
func FuzzEncoderRoundTrip(f *testing.F) {
	f.Add(uint8(0), uint32(7), []byte("credits.aleo"), []byte("account"), []byte{1, 2}, []byte{3}, uint64(0), uint64(0), false)
	f.Add(uint8(1), uint32(0), []byte("p"), []byte("m"), []byte{}, []byte{}, uint64(0), uint64(0), false)
	f.Add(uint8(1), uint32(1), []byte("p"), []byte("m"), []byte{9}, []byte{}, uint64(0), uint64(0), true)
	f.Add(uint8(2), uint32(1<<31), []byte{0xaa}, []byte{0xbb}, []byte{}, []byte{}, uint64(1<<63), ^uint64(0), false)
	f.Add(uint8(3), ^uint32(0), []byte{}, []byte{}, []byte{}, bytes.Repeat([]byte{0xde}, 70000), uint64(0), uint64(0), false)

	dir := f.TempDir()
	lib := copyLib(f, recorder(f, "recorder_batch", "-DRECORDER_BATCH"), dir, "librec.so")
	out := filepath.Join(dir, "out.txt")
	cfg := writeConfig(f, dir, "rec.json5", fmt.Sprintf("{libpath: %q, out: %q}", filepath.Base(lib), out))
	m := host.NewManager()
	if _, err := m.LoadPlugin(cfg); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.Unload)

	f.Fuzz(func(t *testing.T, kind uint8, height uint32, a, b, c, d []byte, x, y uint64, hasKey bool) {
		ev := abi.Event{Kind: abi.EventKind(kind % abi.KindCount), BlockHeight: height}
		var want string
		switch ev.Kind {
		case abi.MappingUpdate:
			ev.ProgramID, ev.MappingName, ev.Key, ev.Value = a, b, c, d
			want = fmt.Sprintf("ev 0 %d %s %s %s %s", height, hx(a), hx(b), hx(c), hx(d))
		case abi.MappingRemoval:
			ev.ProgramID, ev.MappingName, ev.HasKey = a, b, hasKey
			key := "nokey"
			if hasKey {
				ev.Key, key = c, hx(c)
			}
			want = fmt.Sprintf("ev 1 %d %s %s %s", height, hx(a), hx(b), key)
		case abi.StakingReward:
			ev.Staker, ev.Validator, ev.Reward, ev.NewStake = a, b, x, y
			want = fmt.Sprintf("ev 2 %d %s %s %d %d", height, hx(a), hx(b), x, y)
		case abi.Block:
			ev.Block = d
			want = fmt.Sprintf("ev 3 %d %s", height, hx(d))
		}
		// the batch path, then Broadcast's single-event path (single.go), which calls the
		// same on_broadcast_batch with one event
		for _, send := range []func() error{
			func() error { return m.BroadcastBatch([]abi.Event{ev}) },
			func() error { return m.Broadcast(ev) },
		} {
			before, _ := os.ReadFile(out)
			if err := send(); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimRight(string(after[len(before):]), "\n"), "\n")
			if len(got) != 2 || got[0] != "batch 1" || got[1] != want {
				t.Fatalf("recorder saw %q, want [batch 1 %q]", got, want)
			}
		}
	})
}

// hx is the recorder's rendering of a byte string.
func hx(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}
