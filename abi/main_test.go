package abi

import (
	"os"
	"testing"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ctest.Cleanup()
	os.Exit(code)
}
