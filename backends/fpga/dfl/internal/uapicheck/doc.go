// Package uapicheck exposes the kernel's linux/fpga-dfl.h, compiled by cgo,
// to the dfl package's tests: ioctl numbers, struct sizes and field
// offsets, so the tests compare the Go restatement with the header itself.
// It is imported by tests only (a _test.go file cannot use cgo), and without
// cgo Available is false and the tests say why they cannot run.
package uapicheck
