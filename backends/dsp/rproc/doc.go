// Package rproc speaks the real Linux interfaces to DSPs and other remote
// processors, all through golang.org/x/sys/unix:
//
//   - remoteproc (remoteproc.go): the processors under
//     /sys/class/remoteproc — name, state, firmware, recovery, coredump —
//     started, stopped and recovered through sysfs, and /dev/remoteprocN,
//     whose RPROC_SET_SHUTDOWN_ON_RELEASE ties the processor's life to the
//     daemon's descriptor so that a crashed daemon cannot leave a DSP running
//     other tenants' work;
//   - rpmsg (rpmsg.go): endpoints created and destroyed through
//     /dev/rpmsg_ctrlN (RPMSG_CREATE_EPT_IOCTL, RPMSG_DESTROY_EPT_IOCTL),
//     located in /sys/class/rpmsg, and the rpmsg_char message interface (one
//     write, one message);
//   - Qualcomm FastRPC (fastrpc.go): /dev/fastrpc-<domain>[-secure] —
//     attaching to or creating a protection domain on the DSP, invoking
//     remote methods with in and out buffers (the "sc" scalars word and the
//     fastrpc_invoke_args array), dma-buf allocation and mapping.
//
// It is the thin edge of the DSP backend: no policy, no state beyond open
// descriptors. Each call does one system call and wraps its errno with the
// ioctl's name and the node's path, so errors.Is(err, unix.EBUSY) works and
// the message says what failed where.
//
// # Testing without a DSP
//
// The kernel interfaces are tested on any machine: sysfs against a fake
// tree in a temporary directory, /dev/remoteprocN's commands on a FIFO,
// rpmsg_char messages over a SOCK_SEQPACKET socketpair (which keeps message
// boundaries as rpmsg does), and every ioctl on a plain file, where the
// kernel answers ENOTTY — which proves the ioctl was issued on that
// descriptor. The ioctl numbers, constants and struct layouts in uapi.go are
// transcriptions of linux/rpmsg.h, linux/remoteproc_cdev.h and
// misc/fastrpc.h; internal/uapicheck compiles those headers with cgo and
// TestUAPIMatchesKernelHeaders compares every number, size and field offset
// (it may skip only without cgo, and never under CI=true).
package rproc
