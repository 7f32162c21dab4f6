package cabi

import "unsafe"

// The C-layout mirrors of the header's structs, for 64-bit targets (amd64, arm64). Pointers
// are uintptr: they point to memory outside the Go heap (see [Arena]) or to C memory, never
// to movable Go memory. Field order, sizes and offsets match include/slipstream.h exactly;
// TestLayoutMatchesC checks them against what the C compiler prints.

// CBytes mirrors slipstream_bytes.
type CBytes struct {
	Ptr uintptr // const uint8_t *; 0 only when Len == 0
	Len uint64
}

// CEvent mirrors slipstream_event: Kind, BlockHeight and a 96-byte union whose members are
// read through MappingUpdate, MappingRemoval, StakingReward and Block.
type CEvent struct {
	Kind        uint32
	BlockHeight uint32
	Union       [12]uint64
}

// CMappingUpdate mirrors the mapping_update member of slipstream_event's union.
type CMappingUpdate struct {
	ProgramID, MappingName, Key, Value CBytes
}

// CMappingRemoval mirrors the mapping_removal member of slipstream_event's union.
type CMappingRemoval struct {
	ProgramID, MappingName, Key CBytes
	HasKey                      uint8
	Reserved                    [7]uint8
}

// CStakingReward mirrors the staking_reward member of slipstream_event's union.
type CStakingReward struct {
	Staker, Validator CBytes
	Reward, NewStake  uint64
}

// CBlock mirrors the block member of slipstream_event's union.
type CBlock struct {
	Block CBytes
}

// MappingUpdate returns the union viewed as its mapping_update member.
func (e *CEvent) MappingUpdate() *CMappingUpdate { return (*CMappingUpdate)(unsafe.Pointer(&e.Union)) }

// MappingRemoval returns the union viewed as its mapping_removal member.
func (e *CEvent) MappingRemoval() *CMappingRemoval {
	return (*CMappingRemoval)(unsafe.Pointer(&e.Union))
}

// StakingReward returns the union viewed as its staking_reward member.
func (e *CEvent) StakingReward() *CStakingReward { return (*CStakingReward)(unsafe.Pointer(&e.Union)) }

// Block returns the union viewed as its block member.
func (e *CEvent) Block() *CBlock { return (*CBlock)(unsafe.Pointer(&e.Union)) }

// CError mirrors slipstream_error.
type CError struct {
	Buf uintptr // char *, host-owned, already holds ""
	Cap uint64  // >= 1
}

// CHost mirrors slipstream_host.
type CHost struct {
	StructSize uint32
	Reserved   uint32
	Ctx        uintptr // void *, passed back unchanged
	Log        uintptr // void (*)(void *ctx, int32_t level, const char *msg)
	ConfigGet  uintptr // int64_t (*)(void *ctx, const char *key, char *buf, uint64_t cap)
}

// CLoadArgs mirrors slipstream_load_args.
type CLoadArgs struct {
	StructSize uint32
	IsReload   uint8
	Reserved   [3]uint8
	ConfigFile uintptr // const char *
	ConfigJSON uintptr // const char *
	Host       uintptr // const slipstream_host *
}

// CPluginVtable mirrors slipstream_plugin_vtable.
type CPluginVtable struct {
	StructSize       uint32
	ABIMajor         uint16
	ABIMinor         uint16
	Name             uintptr
	Destroy          uintptr
	OnLoad           uintptr
	OnUnload         uintptr
	SubscribedEvents uintptr
	OnBroadcast      uintptr
	OnBroadcastBatch uintptr
	ResumeHeight     uintptr // 1.1; past a 1.0 plugin's struct_size, read as 0 (NULL)
}

// CPlugin mirrors struct slipstream_plugin.
type CPlugin struct {
	Vtable uintptr // const slipstream_plugin_vtable *
}

// Sizes of the C structs, as the header fixes them on 64-bit targets.
const (
	SizeofEvent  = unsafe.Sizeof(CEvent{})        // 104
	SizeofBytes  = unsafe.Sizeof(CBytes{})        // 16
	SizeofError  = unsafe.Sizeof(CError{})        // 16
	SizeofHost   = unsafe.Sizeof(CHost{})         // 32
	SizeofArgs   = unsafe.Sizeof(CLoadArgs{})     // 32
	SizeofVtable = unsafe.Sizeof(CPluginVtable{}) // 72 (64 in 1.0)
)

// MinVtableSize is the smallest vtable struct_size the host accepts: one that holds destroy.
const MinVtableSize = unsafe.Offsetof(CPluginVtable{}.Destroy) + unsafe.Sizeof(uintptr(0))

// Compile-time checks of the sizes the header states.
var (
	_ [104 - SizeofEvent]struct{}
	_ [SizeofEvent - 104]struct{}
	_ [96 - unsafe.Sizeof(CEvent{}.Union)]struct{}
	_ [unsafe.Sizeof(CMappingUpdate{}) - 64]struct{} // every member fits the union
	_ [96 - unsafe.Sizeof(CMappingUpdate{})]struct{}
	_ [96 - unsafe.Sizeof(CMappingRemoval{})]struct{}
	_ [96 - unsafe.Sizeof(CStakingReward{})]struct{}
	_ [96 - unsafe.Sizeof(CBlock{})]struct{}
)
