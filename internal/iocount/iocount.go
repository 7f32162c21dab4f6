// Package iocount counts the bytes that pass through an [io.Reader] or an [io.Writer], for
// the progress and size reports of `slipstream gen` and `slipstream replay`.
package iocount

import "io"

// Reader reads from R and adds the bytes read to N.
type Reader struct {
	R io.Reader
	N int64
}

// Writer writes to W and adds the bytes written to N.
type Writer struct {
	W io.Writer
	N int64
}

// Read reads from R and counts what it read, also when R returns an error.
func (c *Reader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// Write writes to W and counts what it wrote, also when W returns an error.
func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
