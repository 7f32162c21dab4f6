//go:build !unix

package cli

// maxRSSKB is unknown on this system.
func maxRSSKB() int64 { return 0 }
