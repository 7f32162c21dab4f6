package finalize_test

import (
	"errors"
	"fmt"

	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/host"
)

// A node installs the plugin manager once, finalizes every block with Finalize, reports
// the staking rewards and the block inside it (so that an aborted block reports nothing and
// a halt-policy plugin's failure comes back from Finalize), and unloads the plugins at
// shutdown.
func Example() {
	mgr := host.NewManager() // a real node: host.FromConfigFiles(configs, …)
	defer mgr.Unload()

	store := finalize.NewStore()
	store.SetSlipstreamPluginManager(mgr)

	credits, account := []byte("credits.aleo"), []byte("account")
	alice, bob := []byte("alice"), []byte("bob")

	// Block 1: deploys the mapping and pays alice; the stakers earn their rewards.
	err := store.Finalize(1, finalize.RealRun, func() error {
		if err := store.InitializeMapping(credits, account); err != nil {
			return err
		}
		if err := store.UpdateKeyValue(credits, account, alice, []byte("100")); err != nil {
			return err
		}
		current := []finalize.Staker{{Address: alice, Validator: bob, Stake: 100}}
		next := []finalize.Staker{{Address: alice, Validator: bob, Stake: 103}}
		store.NotifyStakingRewards(current, next, 1)
		return store.NotifyBlock([]byte("block-1 bytes"), 1) // held: delivered last, at commit
	})
	fmt.Println("block 1:", err) // non-nil: fn failed (nothing delivered) or a halt plugin failed

	// Block 2 fails half-way: everything it wrote is rolled back, no plugin sees it.
	err = store.Finalize(2, finalize.RealRun, func() error {
		if err := store.UpdateKeyValue(credits, account, bob, []byte("5")); err != nil {
			return err
		}
		if err := store.InsertKeyValue(credits, account, alice, []byte("0")); err != nil {
			return err // alice exists
		}
		return store.NotifyBlock([]byte("block-2 bytes"), 2) // not reached
	})
	fmt.Println("block 2 key exists:", errors.Is(err, finalize.ErrKeyExists))

	// A dry run (speculation) never changes anything.
	_ = store.Finalize(3, finalize.DryRun, func() error {
		return store.RemoveProgram(credits)
	})

	v, ok, _ := store.GetValue(credits, account, alice)
	fmt.Printf("alice=%s (%v)\n", v, ok)
	hasBob, _ := store.ContainsKey(credits, account, bob)
	fmt.Println("bob present:", hasBob, "height:", store.CurrentBlockHeight())
	// Output:
	// block 1: <nil>
	// block 2 key exists: true
	// alice=100 (true)
	// bob present: false height: 1
}
