package abi

import "github.com/slipstream-go/slipstream/internal/cmem"

var cmemPointer = cmem.Pointer
