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
// JetStream recovers its streams before the server accepts clients, so a client of the
// restarted server sees them whole. (Shutdown stops the server cleanly; a killed server
// loses no more: for a stream of one replica the file store writes each message to its
// file before the acknowledgement and only fsyncs at intervals, which matters for a
// machine's crash, not a process's.)
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

// Stored returns how many messages the server's stream holds (0 when the stream does not
// exist), read from the server itself rather than through a client.
func (s *Server) Stored(t testing.TB, stream string) uint64 {
	t.Helper()
	j, err := s.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		t.Fatalf("natstest: reading JetStream's state: %v", err)
	}
	for _, a := range j.AccountDetails {
		for _, st := range a.Streams {
			if st.Name == stream {
				return st.State.Msgs
			}
		}
	}
	return 0
}

// WaitStored waits until the stream holds at least n messages (a test that kills the
// server in the middle of a publisher's run waits for part of the run to be stored: the
// publisher does not wait for each acknowledgement, so on a loaded machine nothing may be
// stored yet). It fails the test after 10s.
func (s *Server) WaitStored(t testing.TB, stream string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.Stored(t, stream)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: stream %s holds %d messages after 10s, want at least %d", stream, got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
