// Package uapicheck compiles the kernel's own uapi headers for the DSP
// interfaces (linux/rpmsg.h, linux/remoteproc_cdev.h, misc/fastrpc.h, from
// Debian's linux-libc-dev) with cgo and reports their ioctl numbers,
// constants, struct sizes and field offsets as the C compiler sees them.
//
// It exists because a _test.go file cannot import "C": package rproc's test
// imports this package and compares every value with its Go transcription,
// so a wrong ioctl number or a misplaced field fails the build's tests
// instead of failing on a device. Nothing else should import it.
package uapicheck
