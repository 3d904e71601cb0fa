package api

import (
	"os"
	"path/filepath"
	"strconv"
)

// DefaultRuntimeDir is where coprocd puts its sockets when the
// configuration does not say: /run/coprocd for root, $XDG_RUNTIME_DIR/coprocd
// or /tmp/coprocd-<uid> for anyone else.
func DefaultRuntimeDir() string {
	if os.Geteuid() == 0 {
		return "/run/coprocd"
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "coprocd")
	}
	return filepath.Join(os.TempDir(), "coprocd-"+strconv.Itoa(os.Geteuid()))
}

// DefaultControlSocket is the control socket of a daemon on the default
// runtime directory.
func DefaultControlSocket() string { return filepath.Join(DefaultRuntimeDir(), "control.sock") }
