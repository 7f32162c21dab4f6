package abi

import (
	"bufio"
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestLayoutMatchesC compiles testdata/abi/layout.c, which prints the size of every ABI
// struct and the offset and size of each field as the C compiler lays them out, and checks
// the Go mirrors field by field.
func TestLayoutMatchesC(t *testing.T) {
	prog := ctest.Program(t, "layout", "testdata/abi/layout.c")
	out, err := exec.Command(prog).Output()
	if err != nil {
		t.Fatalf("running %s: %v", prog, err)
	}
	c := map[string][]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for _, s := range f[1:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("bad line %q", sc.Text())
			}
			c[f[0]] = append(c[f[0]], v)
		}
	}

	var (
		ev   CEvent
		mu   CMappingUpdate
		mr   CMappingRemoval
		sr   CStakingReward
		bl   CBlock
		by   CBytes
		er   CError
		ho   CHost
		la   CLoadArgs
		vt   CPluginVtable
		pl   CPlugin
		un   = unsafe.Offsetof(ev.Union)
		size = func(v uintptr) []uint64 { return []uint64{uint64(v)} }
		fld  = func(off, sz uintptr) []uint64 { return []uint64{uint64(off), uint64(sz)} }
	)
	want := map[string][]uint64{
		"sizeof(slipstream_bytes)": size(unsafe.Sizeof(by)),
		"slipstream_bytes.ptr":     fld(unsafe.Offsetof(by.Ptr), unsafe.Sizeof(by.Ptr)),
		"slipstream_bytes.len":     fld(unsafe.Offsetof(by.Len), unsafe.Sizeof(by.Len)),

		"sizeof(slipstream_error)": size(unsafe.Sizeof(er)),
		"slipstream_error.buf":     fld(unsafe.Offsetof(er.Buf), unsafe.Sizeof(er.Buf)),
		"slipstream_error.cap":     fld(unsafe.Offsetof(er.Cap), unsafe.Sizeof(er.Cap)),

		"sizeof(slipstream_event)":                     size(unsafe.Sizeof(ev)),
		"slipstream_event.kind":                        fld(unsafe.Offsetof(ev.Kind), unsafe.Sizeof(ev.Kind)),
		"slipstream_event.block_height":                fld(unsafe.Offsetof(ev.BlockHeight), unsafe.Sizeof(ev.BlockHeight)),
		"slipstream_event.mapping_update.program_id":   fld(un+unsafe.Offsetof(mu.ProgramID), unsafe.Sizeof(mu.ProgramID)),
		"slipstream_event.mapping_update.mapping_name": fld(un+unsafe.Offsetof(mu.MappingName), unsafe.Sizeof(mu.MappingName)),
		"slipstream_event.mapping_update.key":          fld(un+unsafe.Offsetof(mu.Key), unsafe.Sizeof(mu.Key)),
		"slipstream_event.mapping_update.value":        fld(un+unsafe.Offsetof(mu.Value), unsafe.Sizeof(mu.Value)),
		"slipstream_event.mapping_removal.program_id":  fld(un+unsafe.Offsetof(mr.ProgramID), unsafe.Sizeof(mr.ProgramID)),
		"slipstream_event.mapping_removal.mapping_name": fld(un+unsafe.Offsetof(mr.MappingName),
			unsafe.Sizeof(mr.MappingName)),
		"slipstream_event.mapping_removal.key":      fld(un+unsafe.Offsetof(mr.Key), unsafe.Sizeof(mr.Key)),
		"slipstream_event.mapping_removal.has_key":  fld(un+unsafe.Offsetof(mr.HasKey), unsafe.Sizeof(mr.HasKey)),
		"slipstream_event.mapping_removal.reserved": fld(un+unsafe.Offsetof(mr.Reserved), unsafe.Sizeof(mr.Reserved)),
		"slipstream_event.staking_reward.staker":    fld(un+unsafe.Offsetof(sr.Staker), unsafe.Sizeof(sr.Staker)),
		"slipstream_event.staking_reward.validator": fld(un+unsafe.Offsetof(sr.Validator), unsafe.Sizeof(sr.Validator)),
		"slipstream_event.staking_reward.reward":    fld(un+unsafe.Offsetof(sr.Reward), unsafe.Sizeof(sr.Reward)),
		"slipstream_event.staking_reward.new_stake": fld(un+unsafe.Offsetof(sr.NewStake), unsafe.Sizeof(sr.NewStake)),
		"slipstream_event.block.block":              fld(un+unsafe.Offsetof(bl.Block), unsafe.Sizeof(bl.Block)),
		"slipstream_event.reserved":                 fld(un, unsafe.Sizeof(ev.Union)),

		"sizeof(slipstream_host)":          size(unsafe.Sizeof(ho)),
		"slipstream_host.struct_size":      fld(unsafe.Offsetof(ho.StructSize), unsafe.Sizeof(ho.StructSize)),
		"slipstream_host.reserved":         fld(unsafe.Offsetof(ho.Reserved), unsafe.Sizeof(ho.Reserved)),
		"slipstream_host.ctx":              fld(unsafe.Offsetof(ho.Ctx), unsafe.Sizeof(ho.Ctx)),
		"slipstream_host.log":              fld(unsafe.Offsetof(ho.Log), unsafe.Sizeof(ho.Log)),
		"slipstream_host.config_get":       fld(unsafe.Offsetof(ho.ConfigGet), unsafe.Sizeof(ho.ConfigGet)),
		"sizeof(slipstream_load_args)":     size(unsafe.Sizeof(la)),
		"slipstream_load_args.struct_size": fld(unsafe.Offsetof(la.StructSize), unsafe.Sizeof(la.StructSize)),
		"slipstream_load_args.is_reload":   fld(unsafe.Offsetof(la.IsReload), unsafe.Sizeof(la.IsReload)),
		"slipstream_load_args.reserved":    fld(unsafe.Offsetof(la.Reserved), unsafe.Sizeof(la.Reserved)),
		"slipstream_load_args.config_file": fld(unsafe.Offsetof(la.ConfigFile), unsafe.Sizeof(la.ConfigFile)),
		"slipstream_load_args.config_json": fld(unsafe.Offsetof(la.ConfigJSON), unsafe.Sizeof(la.ConfigJSON)),
		"slipstream_load_args.host":        fld(unsafe.Offsetof(la.Host), unsafe.Sizeof(la.Host)),

		"sizeof(slipstream_plugin_vtable)":            size(unsafe.Sizeof(vt)),
		"slipstream_plugin_vtable.struct_size":        fld(unsafe.Offsetof(vt.StructSize), unsafe.Sizeof(vt.StructSize)),
		"slipstream_plugin_vtable.abi_major":          fld(unsafe.Offsetof(vt.ABIMajor), unsafe.Sizeof(vt.ABIMajor)),
		"slipstream_plugin_vtable.abi_minor":          fld(unsafe.Offsetof(vt.ABIMinor), unsafe.Sizeof(vt.ABIMinor)),
		"slipstream_plugin_vtable.name":               fld(unsafe.Offsetof(vt.Name), unsafe.Sizeof(vt.Name)),
		"slipstream_plugin_vtable.destroy":            fld(unsafe.Offsetof(vt.Destroy), unsafe.Sizeof(vt.Destroy)),
		"slipstream_plugin_vtable.on_load":            fld(unsafe.Offsetof(vt.OnLoad), unsafe.Sizeof(vt.OnLoad)),
		"slipstream_plugin_vtable.on_unload":          fld(unsafe.Offsetof(vt.OnUnload), unsafe.Sizeof(vt.OnUnload)),
		"slipstream_plugin_vtable.subscribed_events":  fld(unsafe.Offsetof(vt.SubscribedEvents), unsafe.Sizeof(vt.SubscribedEvents)),
		"slipstream_plugin_vtable.on_broadcast":       fld(unsafe.Offsetof(vt.OnBroadcast), unsafe.Sizeof(vt.OnBroadcast)),
		"slipstream_plugin_vtable.on_broadcast_batch": fld(unsafe.Offsetof(vt.OnBroadcastBatch), unsafe.Sizeof(vt.OnBroadcastBatch)),
		"sizeof(slipstream_plugin)":                   size(unsafe.Sizeof(pl)),
		"slipstream_plugin.vtable":                    fld(unsafe.Offsetof(pl.Vtable), unsafe.Sizeof(pl.Vtable)),
		"SLIPSTREAM_ABI_VERSION":                      {uint64(Version)},
		"SLIPSTREAM_EVENT_KIND_COUNT":                 {KindCount},
		"SLIPSTREAM_MASK_ALL":                         {uint64(MaskAll)},
	}
	for name, w := range want {
		got, ok := c[name]
		if !ok {
			t.Errorf("%s: not printed by layout.c", name)
			continue
		}
		if !slicesEqual(got, w) {
			t.Errorf("%s: C says %v, Go mirror has %v", name, got, w)
		}
	}
	for name := range c {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: printed by layout.c but not checked against the Go mirror", name)
		}
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
