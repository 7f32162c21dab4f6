package natsplugin

import (
	"strconv"

	"github.com/slipstream-go/slipstream/abi"
)

// kindTokens are the kinds' subject tokens and config names (snake_case), by abi.EventKind.
var kindTokens = [abi.KindCount]string{"mapping_update", "mapping_removal", "staking_reward", "block"}

// KindToken returns the subject token of kind k ("mapping_update", …), or "" for a kind
// this ABI version does not know.
func KindToken(k abi.EventKind) string {
	if k < abi.KindCount {
		return kindTokens[k]
	}
	return ""
}

// ParseKind accepts a kind's subject token ("mapping_update") or its ABI name
// ("MappingUpdate").
func ParseKind(s string) (abi.EventKind, bool) {
	for _, k := range abi.Kinds() {
		if s == kindTokens[k] || s == k.String() {
			return k, true
		}
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

// AppendHex appends b as lowercase hex.
func AppendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

func appendHexField(dst []byte, name string, b []byte) []byte {
	dst = append(dst, ",\""...)
	dst = append(dst, name...)
	dst = append(dst, "\":\""...)
	dst = AppendHex(dst, b)
	return append(dst, '"')
}

// AppendJSON appends the event's JSON object (without a newline) to dst: the one event
// format of Slipstream's streams, which the Rust example plugin writes one per line and this
// plugin publishes one per message (docs: plugins/nats/README.md, "The event JSON"). Field
// order is fixed, byte fields are lowercase hex, numbers are JSON numbers, a whole-mapping
// removal has "key":null:
//
//	{"kind":"MappingUpdate","block_height":7,"program_id":"…","mapping_name":"…","key":"…","value":"…"}
//	{"kind":"MappingRemoval","block_height":7,"program_id":"…","mapping_name":"…","key":null}
//	{"kind":"StakingReward","block_height":7,"staker":"…","validator":"…","reward":17,"new_stake":1000017}
//	{"kind":"Block","block_height":7,"block":"…"}
func AppendJSON(dst []byte, ev *abi.Event) []byte {
	dst = append(dst, `{"kind":"`...)
	dst = append(dst, ev.Kind.String()...)
	dst = append(dst, `","block_height":`...)
	dst = strconv.AppendUint(dst, uint64(ev.BlockHeight), 10)
	switch ev.Kind {
	case abi.MappingUpdate:
		dst = appendHexField(dst, "program_id", ev.ProgramID)
		dst = appendHexField(dst, "mapping_name", ev.MappingName)
		dst = appendHexField(dst, "key", ev.Key)
		dst = appendHexField(dst, "value", ev.Value)
	case abi.MappingRemoval:
		dst = appendHexField(dst, "program_id", ev.ProgramID)
		dst = appendHexField(dst, "mapping_name", ev.MappingName)
		if ev.HasKey {
			dst = appendHexField(dst, "key", ev.Key)
		} else {
			dst = append(dst, `,"key":null`...)
		}
	case abi.StakingReward:
		dst = appendHexField(dst, "staker", ev.Staker)
		dst = appendHexField(dst, "validator", ev.Validator)
		dst = append(dst, `,"reward":`...)
		dst = strconv.AppendUint(dst, ev.Reward, 10)
		dst = append(dst, `,"new_stake":`...)
		dst = strconv.AppendUint(dst, ev.NewStake, 10)
	case abi.Block:
		dst = appendHexField(dst, "block", ev.Block)
	}
	return append(dst, '}')
}

// AppendSubject appends the event's subject to dst: <prefix>.<kind> for staking rewards and
// blocks, <prefix>.<kind>.<program_id hex>.<mapping_name hex> for mapping events. An empty
// program id or mapping name is written as "_" (a subject token cannot be empty).
func AppendSubject(dst []byte, prefix string, ev *abi.Event) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '.')
	dst = append(dst, KindToken(ev.Kind)...)
	if ev.Kind == abi.MappingUpdate || ev.Kind == abi.MappingRemoval {
		dst = appendToken(dst, ev.ProgramID)
		dst = appendToken(dst, ev.MappingName)
	}
	return dst
}

func appendToken(dst, b []byte) []byte {
	dst = append(dst, '.')
	if len(b) == 0 {
		return append(dst, '_')
	}
	return AppendHex(dst, b)
}
