package finalize

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error the store returns for one of these conditions matches the
// sentinel with [errors.Is]; most are also an [*OpError] (see [errors.As]) that names the
// operation, the program, the mapping and, where it matters, the key.
var (
	// ErrMappingNotFound: the operation needs a mapping that is not initialized.
	ErrMappingNotFound = errors.New("mapping is not initialized")
	// ErrMappingExists: InitializeMapping on a mapping that already exists.
	ErrMappingExists = errors.New("mapping already exists")
	// ErrKeyExists: InsertKeyValue on a key that already exists.
	ErrKeyExists = errors.New("key already exists")
	// ErrProgramNotFound: RemoveProgram on a program that has no mapping.
	ErrProgramNotFound = errors.New("program is not initialized")
	// ErrNotInAtomic: a batch operation (checkpoint, rewind, abort, finish) without StartAtomic.
	ErrNotInAtomic = errors.New("no atomic batch in progress")
	// ErrAtomicInProgress: StartAtomic or Finalize while a batch is already in progress.
	ErrAtomicInProgress = errors.New("an atomic batch is already in progress")
	// ErrStorage wraps every error that the [Storage] backend returned.
	ErrStorage = errors.New("storage failure")
	// ErrDelivery wraps the error the plugin manager returned from a broadcast (only a plugin
	// with error_policy halt makes it fail). The state change it reports is applied.
	ErrDelivery = errors.New("event delivery failed")
)

// OpError describes a failed store operation on a program, mapping or key.
//
// Err is one of the sentinel errors of this package (or a backend error wrapped with
// [ErrStorage]); [errors.Is] sees through an OpError to it.
type OpError struct {
	Op      string // the operation, snarkVM's name: "insert_key_value", "remove_mapping", …
	Program []byte // the program ID's encoding
	Mapping []byte // the mapping name's encoding; nil for program-level operations
	Key     []byte // the key's encoding, when the error is about a key; nil otherwise
	Err     error  // the cause
}

// Error formats the operation, the program, the mapping (and key) and the cause, e.g.
// `finalize: update_key_value: mapping "credits.aleo"/"account": mapping is not initialized`.
// Printable UTF-8 encodings are shown quoted, others in hex.
func (e *OpError) Error() string {
	var b strings.Builder
	b.WriteString("finalize: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Mapping != nil {
		b.WriteString("mapping ")
		b.WriteString(showBytes(e.Program))
		b.WriteByte('/')
		b.WriteString(showBytes(e.Mapping))
	} else {
		b.WriteString("program ")
		b.WriteString(showBytes(e.Program))
	}
	if e.Key != nil {
		b.WriteString(" key ")
		b.WriteString(showBytes(e.Key))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause, so that errors.Is(err, ErrMappingNotFound) and the like work.
func (e *OpError) Unwrap() error { return e.Err }

// showBytes renders an encoding for an error message: quoted when it is printable UTF-8
// (program IDs and mapping names usually are), hex otherwise.
func showBytes(b []byte) string {
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(string(b))
	}
	return "0x" + hex.EncodeToString(b)
}

// opErr builds an OpError holding copies of the bytes (it outlives the caller's buffers).
func opErr(op string, program, mapping, key []byte, err error) *OpError {
	return &OpError{Op: op, Program: cloneBytes(program), Mapping: cloneBytesKeepNil(mapping), Key: cloneBytesKeepNil(key), Err: err}
}

// cloneBytes returns a copy of b; a nil or empty b gives an empty, non-nil slice.
func cloneBytes(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }

// cloneBytesKeepNil returns a copy of b, nil when b is nil.
func cloneBytesKeepNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return cloneBytes(b)
}
