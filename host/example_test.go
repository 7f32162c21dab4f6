package host_test

import (
	"errors"
	"fmt"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// blockCounter is a Go-native plugin: it counts Block events.
type blockCounter struct{ blocks int }

func (*blockCounter) Name() string                    { return "block-counter" }
func (*blockCounter) OnLoad(string, bool) error       { return nil }
func (c *blockCounter) OnUnload()                     { fmt.Println("unloaded after", c.blocks, "blocks") }
func (*blockCounter) SubscribedEvents() abi.EventMask { return abi.Mask(abi.Block) }
func (c *blockCounter) OnBroadcast(ev abi.Event) error {
	c.blocks++
	return nil
}

// A node registers plugins (LoadPlugin for C-ABI libraries, Register for Go plugins),
// checks HasSubscribers before building an event, and broadcasts.
func Example() {
	m := host.NewManager()
	if _, err := m.Register(&blockCounter{}, ""); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.ListPlugins(), m.HasSubscribers(abi.Block), m.HasSubscribers(abi.MappingUpdate))

	for h := uint32(1); h <= 3; h++ {
		if m.HasSubscribers(abi.Block) {
			_ = m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: h, Block: []byte{byte(h)}})
		}
	}
	info, _ := m.Plugin("block-counter")
	fmt.Println("events:", info.Counters.Events)
	m.Unload()
	// Output:
	// [block-counter] true false
	// events: 3
	// unloaded after 3 blocks
}

// Loading a C plugin from its config file; errors name the file and match sentinels.
func ExampleManager_LoadPlugin() {
	m := host.NewManager()
	defer m.Unload()
	_, err := m.LoadPlugin("/nonexistent/history.json5")
	fmt.Println(errors.Is(err, host.ErrConfigRead))
	// Output: true
}
