package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// Issue 12.5: a plugin written exactly against snarkVM's last SlipstreamPlugin trait and
// ported with only the edits of the Rust SDK's port guide (sdk/rust/testplugins/snarkvm_port;
// its cargo test checks that the port and the snarkVM original differ by exactly the guide's
// lines) loads into the Go host and sees every event: the counts per kind it writes to
// <config>.counts on unload are the events the store sent.
func TestRustSnarkVMPortLoads(t *testing.T) {
	lib := ctest.Cargo(t, "sdk/rust/testplugins/snarkvm_port", "slipstream_test_snarkvm_port")
	dir := t.TempDir()
	m, logs := newManager(t)
	sent := newGoRecorder("sent")
	name := mustLoad(t, m, writeConfig(t, dir, "tally.json5", lib), sent)
	if name != "snarkvm-tally" {
		t.Errorf("name %q, want the trait's name() snarkvm-tally", name)
	}
	if info := pluginInfo(t, m, name); info.Subscriptions != abi.MaskAll {
		t.Errorf("subscriptions %v, want every kind", info.Subscriptions)
	}
	s := finalize.NewStore()
	s.SetSlipstreamPluginManager(m)
	smallChain(t, s)
	info := pluginInfo(t, m, name)
	m.Unload()

	kinds := map[abi.EventKind]int{}
	var last uint32
	for _, ev := range sent.Events() {
		kinds[ev.Kind]++
		if ev.Kind == abi.Block {
			last = ev.BlockHeight
		}
	}
	want := fmt.Sprintf("MappingUpdate %d\nMappingRemoval %d\nStakingReward %d\nBlock %d\nlast_height %d\n",
		kinds[abi.MappingUpdate], kinds[abi.MappingRemoval], kinds[abi.StakingReward], kinds[abi.Block], last)
	got, err := os.ReadFile(filepath.Join(dir, "tally.counts"))
	if err != nil {
		t.Fatalf("the plugin's on_unload wrote no counts: %v\n%s", err, logs)
	}
	if string(got) != want {
		t.Errorf("counts:\n%s\nwant:\n%s", got, want)
	}
	if info.Counters.Errors != 0 {
		t.Errorf("%d errors\n%s", info.Counters.Errors, logs)
	}
}
