package finalize

import (
	"bytes"
	"slices"
	"strings"
)

// Storage is the backend that holds the program → mapping → key → value state of a [Store].
//
// The store checks every precondition (mapping initialized, key absent, …) before it calls a
// mutating method, so a backend only stores; it reports an error only when it cannot (I/O,
// corruption). The store wraps such errors with [ErrStorage].
//
// A program exists exactly while it has at least one mapping. MappingNames and Entries
// return their results in bytewise order of the names and keys, so that what a getter
// returns (and the order of the events RemoveProgram produces) depends only on the state,
// never on its history; a rolled-back batch thus restores it exactly.
//
// # Memory
//
// Arguments are borrowed: a backend copies what it keeps (callers reuse their buffers).
// A slice a backend returns is never modified afterwards, by either side: the store may keep
// the value slice that Get returned (in its undo log) without copying it.
//
// # Threading
//
// The store serializes calls: mutating methods under its write lock, the others under its
// read lock, so read-only methods may run concurrently with each other but never with a
// mutating one.
type Storage interface {
	// ContainsMapping reports whether the mapping is initialized.
	ContainsMapping(program, mapping []byte) (bool, error)
	// CreateMapping initializes an empty mapping. The store guarantees it does not exist.
	CreateMapping(program, mapping []byte) error
	// DropMapping removes the mapping and all its entries. The store guarantees it exists.
	DropMapping(program, mapping []byte) error
	// MappingNames lists the program's mappings in bytewise order; none (nil) for an unknown program.
	MappingNames(program []byte) ([][]byte, error)
	// Get returns the key's value, ok false when the key is absent. The mapping exists.
	Get(program, mapping, key []byte) (value []byte, ok bool, err error)
	// Put inserts or overwrites the key's value. The mapping exists.
	Put(program, mapping, key, value []byte) error
	// Delete removes the key. The mapping exists and holds the key.
	Delete(program, mapping, key []byte) error
	// Entries lists the mapping's entries in bytewise key order. The mapping exists.
	Entries(program, mapping []byte) ([]Entry, error)
}

// MemoryStorage is the in-memory [Storage] a [Store] uses unless [WithStorage] gives another.
//
// Its methods never fail. An overwrite costs one allocation (the copy of the value); a new
// key three (the key string, the entry, the value copy).
//
// # Threading
//
// MemoryStorage does no locking of its own; the [Store] serializes the calls (see [Storage]).
type MemoryStorage struct {
	programs map[string]*memProgram
}

type memProgram struct {
	mappings map[string]*memMapping
}

type memMapping struct {
	kv map[string]*memValue
}

// memValue boxes a value so that an overwrite replaces the slice without re-inserting the key
// (which would allocate a new key string).
type memValue struct{ v []byte }

// NewMemoryStorage returns an empty in-memory storage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{programs: make(map[string]*memProgram)}
}

func (m *MemoryStorage) mapping(program, mapping []byte) *memMapping {
	p := m.programs[string(program)]
	if p == nil {
		return nil
	}
	return p.mappings[string(mapping)]
}

// ContainsMapping implements [Storage].
func (m *MemoryStorage) ContainsMapping(program, mapping []byte) (bool, error) {
	return m.mapping(program, mapping) != nil, nil
}

// CreateMapping implements [Storage].
func (m *MemoryStorage) CreateMapping(program, mapping []byte) error {
	p := m.programs[string(program)]
	if p == nil {
		p = &memProgram{mappings: make(map[string]*memMapping)}
		m.programs[string(program)] = p
	}
	p.mappings[string(mapping)] = &memMapping{kv: make(map[string]*memValue)}
	return nil
}

// DropMapping implements [Storage].
func (m *MemoryStorage) DropMapping(program, mapping []byte) error {
	p := m.programs[string(program)]
	if p == nil {
		return nil
	}
	delete(p.mappings, string(mapping))
	if len(p.mappings) == 0 {
		delete(m.programs, string(program))
	}
	return nil
}

// MappingNames implements [Storage].
func (m *MemoryStorage) MappingNames(program []byte) ([][]byte, error) {
	p := m.programs[string(program)]
	if p == nil {
		return nil, nil
	}
	names := make([]string, 0, len(p.mappings))
	for name := range p.mappings {
		names = append(names, name)
	}
	slices.SortFunc(names, strings.Compare)
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte(n)
	}
	return out, nil
}

// Get implements [Storage]. The returned slice is the stored one: callers must not modify it.
func (m *MemoryStorage) Get(program, mapping, key []byte) ([]byte, bool, error) {
	mp := m.mapping(program, mapping)
	if mp == nil {
		return nil, false, nil
	}
	v, ok := mp.kv[string(key)]
	if !ok {
		return nil, false, nil
	}
	return v.v, true, nil
}

// Put implements [Storage].
func (m *MemoryStorage) Put(program, mapping, key, value []byte) error {
	mp := m.mapping(program, mapping)
	if mp == nil {
		return nil
	}
	if v, ok := mp.kv[string(key)]; ok {
		v.v = cloneBytes(value)
		return nil
	}
	mp.kv[string(key)] = &memValue{v: cloneBytes(value)}
	return nil
}

// Delete implements [Storage].
func (m *MemoryStorage) Delete(program, mapping, key []byte) error {
	if mp := m.mapping(program, mapping); mp != nil {
		delete(mp.kv, string(key))
	}
	return nil
}

// Entries implements [Storage]. The values are the stored slices: callers must not modify them.
func (m *MemoryStorage) Entries(program, mapping []byte) ([]Entry, error) {
	mp := m.mapping(program, mapping)
	if mp == nil {
		return nil, nil
	}
	out := make([]Entry, 0, len(mp.kv))
	for k, v := range mp.kv {
		out = append(out, Entry{Key: []byte(k), Value: v.v})
	}
	slices.SortFunc(out, func(a, b Entry) int { return bytes.Compare(a.Key, b.Key) })
	return out, nil
}
