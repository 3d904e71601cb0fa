//go:build linux && !(ppc64 || ppc64le || mips || mipsle || mips64 || mips64le)

package rproc

// The asm-generic ioctl encoding (x86, Arm, RISC-V, s390, LoongArch):
// nr in bits 0..7, type in 8..15, size in 16..29, direction in 30..31.
const (
	iocNone      = 0
	iocWrite     = 1
	iocRead      = 2
	iocSizeBits  = 14
	iocDirShift  = 30
	iocSizeShift = 16
)
