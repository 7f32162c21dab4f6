//go:build !windows

package ctest

func underWine() bool { return false }
