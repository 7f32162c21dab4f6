// Package testpg starts a private PostgreSQL server for one test: initdb and pg_ctl in a
// fresh directory, listening only on a Unix socket (listen_addresses=”), stopped and
// removed when the test ends.
//
// PostgreSQL refuses to run as root, so when the test runs as root the server runs as the
// system user PGUser (created with useradd when missing) through runuser.
// The binaries are looked for in $SLIPSTREAM_PG_BIN, then /usr/lib/postgresql/<ver>/bin
// (15 first), then $PATH; the test is skipped, with a message saying so, when none is found.
package testpg

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// PGUser is the system user that runs the server when the test runs as root.
const PGUser = "slipstream-pgtest"

// Server is a running private PostgreSQL server.
type Server struct {
	// DSN is a libpq keyword/value connection string (also accepted by pgx) for the
	// superuser "postgres" and database "postgres" over the Unix socket.
	DSN string
	// SocketDir is the directory holding the server's Unix socket.
	SocketDir string
	// BinDir is the directory of the PostgreSQL binaries used.
	BinDir string

	dataDir string
	logFile string
	runAs   string // "" when the server runs as the current user
}

// FindBinDir returns the directory holding initdb and pg_ctl, or an error when PostgreSQL
// is not installed.
func FindBinDir() (string, error) {
	if dir := os.Getenv("SLIPSTREAM_PG_BIN"); dir != "" {
		if hasBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("testpg: SLIPSTREAM_PG_BIN=%s has no initdb/pg_ctl", dir)
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(candidates, func(i, j int) bool { return rank(candidates[i]) > rank(candidates[j]) })
	for _, dir := range candidates {
		if hasBinaries(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasBinaries(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("testpg: PostgreSQL server binaries (initdb, pg_ctl) not found; " +
		"install postgresql-15 or set SLIPSTREAM_PG_BIN")
}

// rank prefers version 15, then newer versions.
func rank(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	if v == 15 {
		return 1 << 20
	}
	return v
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// Start starts a server for t and registers its shutdown with t.Cleanup. It skips the test
// when PostgreSQL is not installed and fails it on any other problem.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := FindBinDir()
	if err != nil {
		t.Skip(err.Error())
	}
	s, err := start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testpg: %v", err)
		}
	})
	return s
}

func start(bin string) (*Server, error) {
	// Not t.TempDir(): its parents are private to the current user, and the server may run as
	// another one. This directory is removed by Stop.
	root, err := os.MkdirTemp("", "slipstream-pg-")
	if err != nil {
		return nil, fmt.Errorf("testpg: %w", err)
	}
	s := &Server{
		BinDir:    bin,
		SocketDir: filepath.Join(root, "sock"),
		dataDir:   filepath.Join(root, "data"),
		logFile:   filepath.Join(root, "server.log"),
	}
	if err := s.prepareDirs(root); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	if err := s.run("initdb", "-D", s.dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -F -c max_connections=50", s.SocketDir)
	if err := s.run("pg_ctl", "-D", s.dataDir, "-l", s.logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		logText, _ := os.ReadFile(s.logFile)
		os.RemoveAll(root)
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, logText)
	}
	s.DSN = fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", s.SocketDir)
	return s, nil
}

// prepareDirs creates the socket directory and, as root, hands the tree to PGUser.
func (s *Server) prepareDirs(root string) error {
	if err := os.Mkdir(s.SocketDir, 0o700); err != nil {
		return fmt.Errorf("testpg: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := ensureUser()
	if err != nil {
		return err
	}
	s.runAs = PGUser
	for _, p := range []string{root, s.SocketDir} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("testpg: chown %s: %w", p, err)
		}
	}
	// The socket directory must be reachable by the test's own (root) client: root can.
	return os.Chmod(root, 0o755)
}

// ensureUser returns PGUser's ids, creating the system user when missing.
func ensureUser() (uid, gid int, err error) {
	u, err := user.Lookup(PGUser)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return 0, 0, fmt.Errorf("testpg: look up user %s: %w", PGUser, err)
		}
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
			PGUser).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("already exists")) {
			return 0, 0, fmt.Errorf("testpg: useradd %s: %w: %s", PGUser, err, out)
		}
		if u, err = user.Lookup(PGUser); err != nil {
			return 0, 0, fmt.Errorf("testpg: look up user %s: %w", PGUser, err)
		}
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("testpg: uid of %s: %w", PGUser, err)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("testpg: gid of %s: %w", PGUser, err)
	}
	return uid, gid, nil
}

// run runs a PostgreSQL binary, as PGUser when the server runs as that user.
func (s *Server) run(name string, args ...string) error {
	path := filepath.Join(s.BinDir, name)
	var cmd *exec.Cmd
	if s.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/" // the current directory may be unreadable for the server's user
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testpg: %s: %w", name, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("testpg: %s: %w: %s", name, err, out.String())
		}
		return nil
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return fmt.Errorf("testpg: %s timed out: %s", name, out.String())
	}
}

// Stop shuts the server down (fast mode) and removes its directory. It is registered with
// t.Cleanup by Start; calling it again does nothing.
func (s *Server) Stop() error {
	if s.dataDir == "" {
		return nil
	}
	err := s.run("pg_ctl", "-D", s.dataDir, "-m", "fast", "-w", "-t", "60", "stop")
	if rmErr := os.RemoveAll(filepath.Dir(s.dataDir)); rmErr != nil && err == nil {
		err = fmt.Errorf("testpg: %w", rmErr)
	}
	s.dataDir = ""
	return err
}
