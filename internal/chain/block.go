// Package chain defines the NDJSON chain format that `slipstream replay` reads and
// `slipstream gen` writes: one block per line, with the block's finalize operations in
// order, the staker sets before and after the block's staking rewards, the block's bytes
// and whether the block's batch is aborted. See FORMAT.md for the format.
//
// The package has a streaming [Reader] (constant memory for any file size), a [Writer]
// that produces exactly the canonical form, and a seeded generator ([Generate]) of a
// synthetic, realistic Aleo-like chain whose operations are all valid under snarkVM's
// finalize rules.
package chain

import (
	"errors"
	"fmt"

	"github.com/slipstream-go/slipstream/internal/keyindex"
)

// Sentinel errors. Every error the reader, the writer or [Block.Validate] returns for one of
// these conditions matches the sentinel with [errors.Is].
var (
	// ErrSyntax: the line is not well-formed JSON of the expected shape.
	ErrSyntax = errors.New("malformed JSON")
	// ErrUnknownField: an object has a field the format does not define.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: an object has the same field twice.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrMissingField: a required field is absent.
	ErrMissingField = errors.New("missing field")
	// ErrFieldNotAllowed: an op has a field that its kind does not take.
	ErrFieldNotAllowed = errors.New("field not allowed for this op")
	// ErrUnknownOp: the op name is not one of the seven operations.
	ErrUnknownOp = errors.New("unknown op")
	// ErrBadHex: a byte string is not lowercase hexadecimal of even length.
	ErrBadHex = errors.New("invalid hex")
	// ErrBadNumber: a number is not an unsigned integer in range.
	ErrBadNumber = errors.New("invalid number")
	// ErrEmpty: a byte string that must not be empty is empty.
	ErrEmpty = errors.New("must not be empty")
	// ErrDuplicateKey: the same key twice in a replace_mapping, or the same staker twice in a set.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrHeightOrder: a block's height is not greater than the previous block's.
	ErrHeightOrder = errors.New("height not increasing")
	// ErrLineTooLong: a line is longer than the reader's limit.
	ErrLineTooLong = errors.New("line too long")
)

// OpKind is the kind of one finalize operation. The names follow snarkVM's FinalizeStorage.
type OpKind uint8

// The operation kinds. The zero OpKind is invalid.
const (
	OpInitializeMapping OpKind = iota + 1 // "initialize_mapping": program, mapping
	OpInsert                              // "insert": program, mapping, key, value (key must be absent)
	OpUpdate                              // "update": program, mapping, key, value (insert or overwrite)
	OpRemove                              // "remove": program, mapping, key (absent key is allowed)
	OpReplaceMapping                      // "replace_mapping": program, mapping, entries
	OpRemoveMapping                       // "remove_mapping": program, mapping
	OpRemoveProgram                       // "remove_program": program
)

var opNames = [...]string{
	OpInitializeMapping: "initialize_mapping",
	OpInsert:            "insert",
	OpUpdate:            "update",
	OpRemove:            "remove",
	OpReplaceMapping:    "replace_mapping",
	OpRemoveMapping:     "remove_mapping",
	OpRemoveProgram:     "remove_program",
}

// String returns the op's name in the format ("insert", …), or "OpKind(N)" for an invalid kind.
func (k OpKind) String() string {
	if k.Valid() {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Valid reports whether k is one of the seven operation kinds.
func (k OpKind) Valid() bool { return k >= OpInitializeMapping && k <= OpRemoveProgram }

// ParseOpKind returns the kind named s; the error matches [ErrUnknownOp].
func ParseOpKind(s string) (OpKind, error) {
	if k := opKindOf([]byte(s)); k != 0 {
		return k, nil
	}
	return 0, fmt.Errorf("%w %q", ErrUnknownOp, s)
}

func opKindOf(b []byte) OpKind {
	for k := OpInitializeMapping; k <= OpRemoveProgram; k++ {
		if string(b) == opNames[k] {
			return k
		}
	}
	return 0
}

// Field bits: which fields an op kind requires (all of them) and allows (exactly these).
const (
	fProgram = 1 << iota
	fMapping
	fKey
	fValue
	fEntries
)

var opFields = [...]uint8{
	OpInitializeMapping: fProgram | fMapping,
	OpInsert:            fProgram | fMapping | fKey | fValue,
	OpUpdate:            fProgram | fMapping | fKey | fValue,
	OpRemove:            fProgram | fMapping | fKey,
	OpReplaceMapping:    fProgram | fMapping | fEntries,
	OpRemoveMapping:     fProgram | fMapping,
	OpRemoveProgram:     fProgram,
}

var fieldNames = [...]string{"program", "mapping", "key", "value", "entries"}

// Entry is one key-value pair of a replace_mapping.
type Entry struct {
	Key, Value []byte
}

// Op is one finalize operation. Which fields it uses depends on Kind (see the OpKind
// constants); the others are nil. Byte strings are the node's encodings; the generator uses
// the UTF-8 bytes of program ids and mapping names.
type Op struct {
	Kind    OpKind
	Program []byte
	Mapping []byte
	Key     []byte
	Value   []byte
	Entries []Entry // replace_mapping only; may be empty (the mapping becomes empty)
}

// StakerEntry is one staker of a staker set: its address, the validator it is bonded to, and
// its stake in microcredits.
type StakerEntry struct {
	Staker    []byte
	Validator []byte
	Stake     uint64
}

// Block is one line of a chain file.
type Block struct {
	Height  uint32
	Ops     []Op          // in order
	Current []StakerEntry // the staker set before the block's rewards
	Next    []StakerEntry // the staker set after them; a staker absent here unbonded
	Bytes   []byte        // the block's bytes, passed through to the Block event
	Aborted bool          // the block's batch is aborted: none of its ops take effect

	mem []byte // the backing array of a decoded block's byte slices, for [Reader.NextReusing]
}

// Validate checks what can be checked of a block on its own: every op has a valid kind,
// exactly the fields its kind takes, and non-empty program, mapping, key and value; a
// replace_mapping has no key twice; each staker set has no staker twice and no empty
// address. It does not check the ops against any state, nor the height order.
func (b *Block) Validate() error {
	for i := range b.Ops {
		if err := b.Ops[i].validate(); err != nil {
			return fmt.Errorf("ops[%d]: %w", i, err)
		}
	}
	if err := validateStakers(b.Current); err != nil {
		return fmt.Errorf("stakers.current%w", err)
	}
	if err := validateStakers(b.Next); err != nil {
		return fmt.Errorf("stakers.next%w", err)
	}
	return nil
}

// validate checks one op; the error message starts with the op's name.
func (op *Op) validate() error {
	if !op.Kind.Valid() {
		return fmt.Errorf("%w %v", ErrUnknownOp, op.Kind)
	}
	allowed := opFields[op.Kind]
	fields := [...]struct {
		present, empty bool
	}{
		{op.Program != nil, len(op.Program) == 0},
		{op.Mapping != nil, len(op.Mapping) == 0},
		{op.Key != nil, len(op.Key) == 0},
		{op.Value != nil, len(op.Value) == 0},
		{op.Entries != nil, false},
	}
	for i, f := range fields {
		bit := uint8(1) << i
		switch {
		case allowed&bit != 0 && !f.present && bit != fEntries:
			return fmt.Errorf("%v: %w %q", op.Kind, ErrMissingField, fieldNames[i])
		case allowed&bit != 0 && f.empty:
			return fmt.Errorf("%v: %s: %w", op.Kind, fieldNames[i], ErrEmpty)
		case allowed&bit == 0 && f.present:
			return fmt.Errorf("%v: %w: %q", op.Kind, ErrFieldNotAllowed, fieldNames[i])
		}
	}
	if op.Kind == OpReplaceMapping {
		for i, e := range op.Entries {
			if len(e.Key) == 0 {
				return fmt.Errorf("%v: entries[%d].key: %w", op.Kind, i, ErrEmpty)
			}
			if len(e.Value) == 0 {
				return fmt.Errorf("%v: entries[%d].value: %w", op.Kind, i, ErrEmpty)
			}
		}
		if i, j := firstDuplicate(len(op.Entries), func(i int) []byte { return op.Entries[i].Key }); i >= 0 {
			return fmt.Errorf("%v: entries[%d]: %w %x (also entries[%d])", op.Kind, j, ErrDuplicateKey, op.Entries[j].Key, i)
		}
	}
	return nil
}

// validateStakers checks a staker set; the message starts with "[i]" or is empty-prefixed.
func validateStakers(set []StakerEntry) error {
	for i, s := range set {
		if len(s.Staker) == 0 {
			return fmt.Errorf("[%d].staker: %w", i, ErrEmpty)
		}
		if len(s.Validator) == 0 {
			return fmt.Errorf("[%d].validator: %w", i, ErrEmpty)
		}
	}
	if i, j := firstDuplicate(len(set), func(i int) []byte { return set[i].Staker }); i >= 0 {
		return fmt.Errorf("[%d]: %w: staker %x (also [%d])", j, ErrDuplicateKey, set[j].Staker, i)
	}
	return nil
}

// firstDuplicate returns the indexes i < j of the first j whose key equals an earlier key i,
// or -1, -1.
func firstDuplicate(n int, key func(int) []byte) (int, int) {
	var mem [keyindex.Stack]int32
	_, i, j := keyindex.New(n, key, mem[:])
	return i, j
}

// EventCount estimates how many plugin events replaying the block produces when every kind
// is subscribed: one per insert, update and remove, one per entry of a replace_mapping, one
// per remove_mapping, one per remove_program (really one per mapping of the program, which
// the block alone does not tell), one StakingReward per staker of Current, and the Block
// event. For an aborted block the ops and rewards are inside the aborted batch, so only the
// Block event counts.
func (b *Block) EventCount() int {
	if b.Aborted {
		return 1
	}
	n := len(b.Current) + 1
	for i := range b.Ops {
		switch b.Ops[i].Kind {
		case OpInsert, OpUpdate, OpRemove, OpRemoveMapping, OpRemoveProgram:
			n++
		case OpReplaceMapping:
			n += len(b.Ops[i].Entries)
		}
	}
	return n
}
