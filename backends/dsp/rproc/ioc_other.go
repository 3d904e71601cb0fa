//go:build linux && (ppc64 || ppc64le || mips || mipsle || mips64 || mips64le)

package rproc

// The PowerPC and MIPS ioctl encoding: a 13-bit size and a 3-bit direction.
const (
	iocNone      = 1
	iocWrite     = 4
	iocRead      = 2
	iocSizeBits  = 13
	iocDirShift  = 29
	iocSizeShift = 16
)
