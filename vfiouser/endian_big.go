//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package vfiouser

// vfio-user messages are in the host's byte order and this package encodes
// them little-endian. Building it for a big-endian host is a mistake that
// must not compile.
var littleEndianHostRequired int = "vfiouser: big-endian hosts are not supported"
