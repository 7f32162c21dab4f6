package cabi

import (
	"bufio"
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestLayoutMatchesC runs testdata/abi/layout.c, the single source of the ABI's layout (the
// Rust SDK's layout test reads the same program), and checks the Go mirrors against every
// line it prints, in both directions: a fact the C program prints that the mirror does not
// check fails, and so does a mirror entry the C program does not print.
func TestLayoutMatchesC(t *testing.T) {
	prog := ctest.Program(t, "layout", "testdata/abi/layout.c")
	out, err := exec.Command(prog).Output()
	if err != nil {
		t.Fatalf("running %s: %v", prog, err)
	}
	c := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		expr, val, ok := strings.Cut(sc.Text(), "\t")
		v, err := strconv.ParseInt(val, 10, 64)
		if !ok || err != nil {
			t.Fatalf("layout.c printed %q, want EXPRESSION<TAB>NUMBER", sc.Text())
		}
		c[expr] = v
	}

	want := map[string]int64{}
	str := func(name string, size, align uintptr) {
		want["sizeof("+name+")"], want["_Alignof("+name+")"] = int64(size), int64(align)
	}
	fld := func(typ, field string, off, size uintptr) {
		want["offsetof("+typ+", "+field+")"] = int64(off)
		want["sizeof((("+typ+" *)0)->"+field+")"] = int64(size)
	}
	var (
		by CBytes
		er CError
		ev CEvent
		mu CMappingUpdate
		mr CMappingRemoval
		sr CStakingReward
		bl CBlock
		ho CHost
		la CLoadArgs
		vt CPluginVtable
		pl CPlugin
		un = unsafe.Offsetof(ev.Union)
	)
	const e = "slipstream_event"
	str("slipstream_bytes", unsafe.Sizeof(by), unsafe.Alignof(by))
	fld("slipstream_bytes", "ptr", unsafe.Offsetof(by.Ptr), unsafe.Sizeof(by.Ptr))
	fld("slipstream_bytes", "len", unsafe.Offsetof(by.Len), unsafe.Sizeof(by.Len))

	str("slipstream_error", unsafe.Sizeof(er), unsafe.Alignof(er))
	fld("slipstream_error", "buf", unsafe.Offsetof(er.Buf), unsafe.Sizeof(er.Buf))
	fld("slipstream_error", "cap", unsafe.Offsetof(er.Cap), unsafe.Sizeof(er.Cap))

	str(e, unsafe.Sizeof(ev), unsafe.Alignof(ev))
	fld(e, "kind", unsafe.Offsetof(ev.Kind), unsafe.Sizeof(ev.Kind))
	fld(e, "block_height", unsafe.Offsetof(ev.BlockHeight), unsafe.Sizeof(ev.BlockHeight))
	fld(e, "reserved", un, unsafe.Sizeof(ev.Union))
	fld(e, "mapping_update", un, unsafe.Sizeof(mu))
	fld(e, "mapping_update.program_id", un+unsafe.Offsetof(mu.ProgramID), unsafe.Sizeof(mu.ProgramID))
	fld(e, "mapping_update.mapping_name", un+unsafe.Offsetof(mu.MappingName), unsafe.Sizeof(mu.MappingName))
	fld(e, "mapping_update.key", un+unsafe.Offsetof(mu.Key), unsafe.Sizeof(mu.Key))
	fld(e, "mapping_update.value", un+unsafe.Offsetof(mu.Value), unsafe.Sizeof(mu.Value))
	fld(e, "mapping_removal", un, unsafe.Sizeof(mr))
	fld(e, "mapping_removal.program_id", un+unsafe.Offsetof(mr.ProgramID), unsafe.Sizeof(mr.ProgramID))
	fld(e, "mapping_removal.mapping_name", un+unsafe.Offsetof(mr.MappingName), unsafe.Sizeof(mr.MappingName))
	fld(e, "mapping_removal.key", un+unsafe.Offsetof(mr.Key), unsafe.Sizeof(mr.Key))
	fld(e, "mapping_removal.has_key", un+unsafe.Offsetof(mr.HasKey), unsafe.Sizeof(mr.HasKey))
	fld(e, "mapping_removal.reserved", un+unsafe.Offsetof(mr.Reserved), unsafe.Sizeof(mr.Reserved))
	fld(e, "staking_reward", un, unsafe.Sizeof(sr))
	fld(e, "staking_reward.staker", un+unsafe.Offsetof(sr.Staker), unsafe.Sizeof(sr.Staker))
	fld(e, "staking_reward.validator", un+unsafe.Offsetof(sr.Validator), unsafe.Sizeof(sr.Validator))
	fld(e, "staking_reward.reward", un+unsafe.Offsetof(sr.Reward), unsafe.Sizeof(sr.Reward))
	fld(e, "staking_reward.new_stake", un+unsafe.Offsetof(sr.NewStake), unsafe.Sizeof(sr.NewStake))
	fld(e, "block", un, unsafe.Sizeof(bl))
	fld(e, "block.block", un+unsafe.Offsetof(bl.Block), unsafe.Sizeof(bl.Block))

	str("slipstream_host", unsafe.Sizeof(ho), unsafe.Alignof(ho))
	fld("slipstream_host", "struct_size", unsafe.Offsetof(ho.StructSize), unsafe.Sizeof(ho.StructSize))
	fld("slipstream_host", "reserved", unsafe.Offsetof(ho.Reserved), unsafe.Sizeof(ho.Reserved))
	fld("slipstream_host", "ctx", unsafe.Offsetof(ho.Ctx), unsafe.Sizeof(ho.Ctx))
	fld("slipstream_host", "log", unsafe.Offsetof(ho.Log), unsafe.Sizeof(ho.Log))
	fld("slipstream_host", "config_get", unsafe.Offsetof(ho.ConfigGet), unsafe.Sizeof(ho.ConfigGet))

	str("slipstream_load_args", unsafe.Sizeof(la), unsafe.Alignof(la))
	fld("slipstream_load_args", "struct_size", unsafe.Offsetof(la.StructSize), unsafe.Sizeof(la.StructSize))
	fld("slipstream_load_args", "is_reload", unsafe.Offsetof(la.IsReload), unsafe.Sizeof(la.IsReload))
	fld("slipstream_load_args", "reserved", unsafe.Offsetof(la.Reserved), unsafe.Sizeof(la.Reserved))
	fld("slipstream_load_args", "config_file", unsafe.Offsetof(la.ConfigFile), unsafe.Sizeof(la.ConfigFile))
	fld("slipstream_load_args", "config_json", unsafe.Offsetof(la.ConfigJSON), unsafe.Sizeof(la.ConfigJSON))
	fld("slipstream_load_args", "host", unsafe.Offsetof(la.Host), unsafe.Sizeof(la.Host))

	const v = "slipstream_plugin_vtable"
	str(v, unsafe.Sizeof(vt), unsafe.Alignof(vt))
	fld(v, "struct_size", unsafe.Offsetof(vt.StructSize), unsafe.Sizeof(vt.StructSize))
	fld(v, "abi_major", unsafe.Offsetof(vt.ABIMajor), unsafe.Sizeof(vt.ABIMajor))
	fld(v, "abi_minor", unsafe.Offsetof(vt.ABIMinor), unsafe.Sizeof(vt.ABIMinor))
	fld(v, "name", unsafe.Offsetof(vt.Name), unsafe.Sizeof(vt.Name))
	fld(v, "destroy", unsafe.Offsetof(vt.Destroy), unsafe.Sizeof(vt.Destroy))
	fld(v, "on_load", unsafe.Offsetof(vt.OnLoad), unsafe.Sizeof(vt.OnLoad))
	fld(v, "on_unload", unsafe.Offsetof(vt.OnUnload), unsafe.Sizeof(vt.OnUnload))
	fld(v, "subscribed_events", unsafe.Offsetof(vt.SubscribedEvents), unsafe.Sizeof(vt.SubscribedEvents))
	fld(v, "on_broadcast", unsafe.Offsetof(vt.OnBroadcast), unsafe.Sizeof(vt.OnBroadcast))
	fld(v, "on_broadcast_batch", unsafe.Offsetof(vt.OnBroadcastBatch), unsafe.Sizeof(vt.OnBroadcastBatch))
	fld(v, "resume_height", unsafe.Offsetof(vt.ResumeHeight), unsafe.Sizeof(vt.ResumeHeight))

	str("slipstream_plugin", unsafe.Sizeof(pl), unsafe.Alignof(pl))
	fld("slipstream_plugin", "vtable", unsafe.Offsetof(pl.Vtable), unsafe.Sizeof(pl.Vtable))

	for name, val := range map[string]int64{
		"SLIPSTREAM_ABI_MAJOR": abi.Major, "SLIPSTREAM_ABI_MINOR": abi.Minor, "SLIPSTREAM_ABI_VERSION": int64(abi.Version),
		"SLIPSTREAM_OK": abi.OK, "SLIPSTREAM_ERROR": abi.Error,
		"SLIPSTREAM_EVENT_MAPPING_UPDATE": int64(abi.MappingUpdate), "SLIPSTREAM_EVENT_MAPPING_REMOVAL": int64(abi.MappingRemoval),
		"SLIPSTREAM_EVENT_STAKING_REWARD": int64(abi.StakingReward), "SLIPSTREAM_EVENT_BLOCK": int64(abi.Block),
		"SLIPSTREAM_EVENT_KIND_COUNT": abi.KindCount, "SLIPSTREAM_MASK_ALL": int64(abi.MaskAll),
		"SLIPSTREAM_LOG_TRACE": abi.LogTrace, "SLIPSTREAM_LOG_DEBUG": abi.LogDebug, "SLIPSTREAM_LOG_INFO": abi.LogInfo,
		"SLIPSTREAM_LOG_WARN": abi.LogWarn, "SLIPSTREAM_LOG_ERROR": abi.LogError,
	} {
		want[name] = val
	}

	for name, w := range want {
		if got, ok := c[name]; !ok {
			t.Errorf("%s: in the Go mirror, not printed by testdata/abi/layout.c", name)
		} else if got != w {
			t.Errorf("%s: C says %d, the Go mirror %d", name, got, w)
		}
	}
	for name := range c {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: printed by testdata/abi/layout.c, not checked against the Go mirror", name)
		}
	}
}
