// Package e2e holds the cross-component tests of Slipstream for Go: a finalize.Store
// driving a real host.Manager into real plugins (the C history plugin of plugins/example_c
// with SQLite and a private PostgreSQL server, the Rust example plugin and the Rust SDK's
// panicking test plugin), then checking what the plugins stored against what the store
// held and sent. The plugins are compiled at test time (internal/ctest: cc and cargo); a
// test whose toolchain or database server is missing is skipped with a message.
//
// The package has no code of its own: everything is in its _test.go files.
//
//	go test ./e2e/                  # the full runs (a few seconds to a minute)
//	go test -short ./e2e/           # smaller chains
//	CGO_ENABLED=0 go test ./e2e/    # the same with the cgo-free host
package e2e
