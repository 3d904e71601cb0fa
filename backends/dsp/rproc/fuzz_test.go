//go:build linux

package rproc

import (
	"strings"
	"testing"
)

// FuzzParsers feeds arbitrary text to every parser of kernel-provided
// strings: none panics, and what they accept round-trips.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"running\n", "offline", "-1", "0x400", "fastrpc-cdsp", "fastrpc-adsp-secure", "remoteproc0", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if st, err := ParseState(s); err == nil && string(st) != strings.TrimSuffix(s, "\n") {
			t.Fatalf("ParseState(%q) = %q", s, st)
		}
		_, _ = ParseAddr(s)
		if n, err := ParseFastRPCNode(s); err == nil && n.Name != s {
			t.Fatalf("ParseFastRPCNode(%q).Name = %q", s, n.Name)
		}
		if _, err := EndpointInfo(s, 0, 0); err == nil && (s == "" || len(s) > 31) {
			t.Fatalf("EndpointInfo accepted %q", s)
		}
		_ = checkFirmwareName(s)
		_, _ = OpenRemoteproc(t.TempDir(), s)
	})
}

// FuzzScalars: every sc word decodes to scalars that encode back to it.
func FuzzScalars(f *testing.F) {
	f.Add(uint32(0x06040000))
	f.Add(uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, sc uint32) {
		got, err := DecodeScalars(sc).Encode()
		if err != nil || got != sc {
			t.Fatalf("0x%08x decodes and encodes to 0x%08x (%v)", sc, got, err)
		}
	})
}
