package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/slipstream-go/slipstream/host"
)

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error {
		return &host.LoadError{Config: "/x.json5", Err: fmt.Errorf("%w: detail", err)}
	}
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: x", errBadRequest), http.StatusBadRequest},
		{fmt.Errorf("%w: x", errUnauthorized), http.StatusUnauthorized},
		{fmt.Errorf("%w: x", errForbidden), http.StatusForbidden},
		{fmt.Errorf("%w: x", errNotFound), http.StatusNotFound},
		{fmt.Errorf("%w: x", errTooLarge), http.StatusRequestEntityTooLarge},
		{wrap(host.ErrNotLoaded), http.StatusNotFound},
		{wrap(host.ErrAlreadyLoaded), http.StatusConflict},
		{wrap(host.ErrClosed), http.StatusServiceUnavailable},
		{wrap(host.ErrConfigRead), http.StatusUnprocessableEntity},
		{wrap(host.ErrConfigSyntax), http.StatusUnprocessableEntity},
		{wrap(host.ErrConfigInvalid), http.StatusUnprocessableEntity},
		{wrap(host.ErrNoLibpath), http.StatusUnprocessableEntity},
		{wrap(host.ErrLibraryLoad), http.StatusUnprocessableEntity},
		{wrap(host.ErrSymbolMissing), http.StatusUnprocessableEntity},
		{wrap(&host.ABIError{Library: "x", Plugin: 2 << 16, Host: 1 << 16}), http.StatusUnprocessableEntity},
		{wrap(host.ErrInvalidPlugin), http.StatusUnprocessableEntity},
		{wrap(host.ErrOnLoad), http.StatusUnprocessableEntity},
		{wrap(host.ErrInsecure), http.StatusUnprocessableEntity},
		{wrap(host.ErrHashMismatch), http.StatusUnprocessableEntity},
		// A reload whose restore failed too: the new config's error decides.
		{errors.Join(wrap(host.ErrOnLoad), fmt.Errorf("restoring the old config: %w", errors.New("gone"))), http.StatusUnprocessableEntity},
		{errors.New("disk on fire"), http.StatusInternalServerError},
		{wrap(errors.New("dlclose failed")), http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := statusOf(tc.err); got != tc.want {
				t.Errorf("statusOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"127.3.2.1", true},
		{"::1", true},
		{"localhost", true},
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"192.168.1.10", false},
		{"8.8.8.8", false},
		{"fe80::1", false},
		{"::ffff:10.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if err := checkLoopback(context.Background(), tc.host); (err == nil) != tc.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.host, err, tc.ok)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	dir := filepath.FromSlash("/srv/plugins")
	tests := []struct {
		path string
		want bool
	}{
		{"/srv/plugins/a.json5", true},
		{"/srv/plugins/sub/a.json5", true},
		{"/srv/plugins/..a.json5", true}, // a file name starting with two dots is inside
		{"/srv/plugins", false},
		{"/srv/plugins-evil/a.json5", false},
		{"/srv/a.json5", false},
		{"/etc/passwd", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := within(dir, filepath.FromSlash(tc.path)); got != tc.want {
				t.Errorf("within(%s, %s) = %v", dir, tc.path, got)
			}
		})
	}
}
