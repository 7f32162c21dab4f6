package cabi

import (
	"testing"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

func TestMain(m *testing.M) { ctest.Main(m) }
