package cli_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

func TestReplayAdmin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "sleep_us: 50")
	tokenFile := writeFile(t, dir, "token", "s3cret\n")
	cmd := exec.Command(bin, "replay", "--plugin", cfg, "--synthetic", "--blocks", "100000",
		"--admin", "127.0.0.1:0", "--admin-token-file", tokenFile, "--plugin-dir", dir)
	cmd.Dir = dir
	var so bytes.Buffer
	cmd.Stdout = &so
	base, stderrText := startWithAdmin(t, cmd)
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/plugins"); code != 200 || !strings.Contains(body, `"name":"recorder"`) {
		t.Fatalf("GET /plugins: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "recorder") {
		t.Fatalf("GET /metrics: %d %.300s", code, body)
	}
	// A change without the token is refused.
	req, _ := http.NewRequest(http.MethodDelete, base+"/plugins/recorder", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("DELETE without token: %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("wait: %v; stderr %s", err, stderrText())
	}
	if lines := ctest.ReadLines(t, filepath.Join(dir, "rec.out")); !contains(lines, "destroy") {
		t.Fatal("the plugin was not unloaded")
	}
}

func TestReplayAdminErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"flags without --admin", []string{"--plugin-dir", dir}, "", "need --admin ADDR"},
		{"no token", []string{"--admin", "127.0.0.1:0"}, "", "token"},
		{"missing token file", []string{"--admin", "127.0.0.1:0", "--admin-token-file", filepath.Join(dir, "nope")}, "", "nope"},
		{"remote address", []string{"--admin", "0.0.0.0:0"}, "SLIPSTREAM_ADMIN_TOKEN=x", "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bin, append([]string{"replay", "--plugin", cfg, "--synthetic", "--blocks", "2"}, tt.args...)...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "SLIPSTREAM_ADMIN_TOKEN=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			if tt.env != "" {
				cmd.Env = append(cmd.Env, tt.env)
			}
			var se bytes.Buffer
			cmd.Stderr = &se
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(se.String(), tt.want) {
				t.Fatalf("%v, stderr %q; want exit 2 and %q", err, se.String(), tt.want)
			}
		})
	}
}

// TestReplayAdminInsecureRefusesBrowsers: with --admin-insecure, what a web page can send
// without a CORS preflight (a cross-origin text/plain POST) does not load a plugin.
func TestReplayAdminInsecureRefusesBrowsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "sleep_us: 50")
	lib := ctest.Plugin(t, "recorder3", "testdata/plugins/recorder.c", `-DRECORDER_NAME="other"`)
	writeFile(t, dir, "other.json5", fmt.Sprintf("{libpath: %q, out: %q}", lib, filepath.Join(dir, "other.out")))
	cmd := exec.Command(bin, "replay", "--plugin", cfg, "--synthetic", "--blocks", "100000",
		"--admin", "127.0.0.1:0", "--admin-insecure", "--plugin-dir", dir)
	cmd.Dir = dir
	base, _ := startWithAdmin(t, cmd)
	post := func(contentType, origin string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/plugins", strings.NewReader(`{"config_file": "other.json5"}`))
		req.Header.Set("Content-Type", contentType)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("text/plain", "http://evil.example"); code != http.StatusForbidden || !strings.Contains(body, "cross-origin request refused") {
		t.Errorf("cross-origin text/plain POST: %d %s, want 403", code, body)
	}
	if code, body := post("text/plain", ""); code != http.StatusUnsupportedMediaType || !strings.Contains(body, "application/json") {
		t.Errorf("text/plain POST: %d %s, want 415", code, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.out")); err == nil {
		t.Fatal("a refused request loaded the plugin")
	}
	if code, body := post("application/json", ""); code != http.StatusCreated {
		t.Errorf("JSON POST: %d %s, want 201", code, body)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("exit 0 after SIGINT, want 130")
	}
}

// startWithAdmin starts a `slipstream replay … --admin 127.0.0.1:0` command and returns the
// admin API's base URL once the command has printed it, and a function that waits for the
// command's stderr to end and returns all of it. The command is killed when the test ends.
func startWithAdmin(t *testing.T, cmd *exec.Cmd) (base string, stderrText func() string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := make(chan string, 1)
	rest := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var all strings.Builder
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "slipstream replay: admin API listening on "); ok {
				addr <- a
			}
			all.WriteString(sc.Text() + "\n")
		}
		rest <- all.String()
	}()
	select {
	case base = <-addr:
	case <-time.After(time.Minute):
		t.Fatal("the admin API did not start")
	}
	return base, func() string { return <-rest }
}
