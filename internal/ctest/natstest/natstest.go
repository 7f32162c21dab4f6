// Package natstest runs a NATS server with JetStream in the test's process (loopback
// only, a random port, the store in a temporary directory) for the tests of the NATS
// plugin and of `slipstream tail`. It is a package of its own so that the tests that do not
// need a server do not link one.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running in-process NATS server.
type Server struct {
	*server.Server
	dir  string
	port int
}

// Start starts a server with JetStream storing in a new t.TempDir() (shut down at the
// end of the test).
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{dir: t.TempDir(), port: -1}
	s.start(t)
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir,
		NoLog: true, NoSigs: true, MaxPayload: 8 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("natstest: the NATS server did not start within 10s")
	}
	s.Server = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// URL is the server's client URL.
func (s *Server) URL() string { return s.ClientURL() }

// Restart shuts the server down (if running) and starts it again on the same port and
// store directory: what JetStream had stored is there again, and clients reconnect.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	s.WaitForShutdown()
	s.start(t)
}

// Shutdown stops the server (Start's cleanup; a test may call it earlier to kill it).
func (s *Server) Shutdown() {
	if s.Server != nil {
		s.Server.Shutdown()
	}
}
