//go:build linux

package rproc

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FastRPCNode is a FastRPC device node: /dev/fastrpc-<domain>[-secure].
type FastRPCNode struct {
	Name   string // "fastrpc-cdsp"
	Domain string // "adsp", "mdsp", "sdsp", "cdsp", "cdsp1", "gdsp0", ...
	Secure bool   // the -secure node, for signed protection domains only
}

// ParseFastRPCNode parses a FastRPC device node's name.
func ParseFastRPCNode(name string) (FastRPCNode, error) {
	rest, ok := strings.CutPrefix(name, "fastrpc-")
	if !ok {
		return FastRPCNode{}, fmt.Errorf("rproc: %q is not a FastRPC node (want fastrpc-<domain>[-secure])", name)
	}
	n := FastRPCNode{Name: name}
	if d, ok := strings.CutSuffix(rest, "-secure"); ok {
		n.Secure, rest = true, d
	}
	if rest == "" || len(rest) > 16 {
		return FastRPCNode{}, fmt.Errorf("rproc: FastRPC node %q names no domain", name)
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return FastRPCNode{}, fmt.Errorf("rproc: FastRPC node %q: domain %q is not lower-case letters and digits", name, rest)
		}
	}
	n.Domain = rest
	return n, nil
}

// ListFastRPCNodes lists the FastRPC nodes in devRoot (normally "/dev").
func ListFastRPCNodes(devRoot string) ([]FastRPCNode, error) {
	names, err := readDirNames(devRoot)
	if err != nil {
		return nil, fmt.Errorf("rproc: listing FastRPC nodes: %w", err)
	}
	var out []FastRPCNode
	for _, n := range names {
		if node, err := ParseFastRPCNode(n); err == nil {
			out = append(out, node)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Scalars is the decoded "sc" word of a FastRPC invocation: the method and
// how many buffers and handles go each way. Its encoding is the kernel's
// FASTRPC_BUILD_SCALARS (drivers/misc/fastrpc.c; not in the uapi header).
type Scalars struct {
	Attr       uint32 // 3 bits
	Method     uint32 // 5 bits
	InBufs     uint32 // 8 bits
	OutBufs    uint32 // 8 bits
	InHandles  uint32 // 4 bits
	OutHandles uint32 // 4 bits
}

// Encode packs the scalars, refusing fields that do not fit.
func (s Scalars) Encode() (uint32, error) {
	for _, f := range []struct {
		name string
		v    uint32
		bits uint
	}{{"attr", s.Attr, 3}, {"method", s.Method, 5}, {"in buffers", s.InBufs, 8}, {"out buffers", s.OutBufs, 8}, {"in handles", s.InHandles, 4}, {"out handles", s.OutHandles, 4}} {
		if f.v >= 1<<f.bits {
			return 0, fmt.Errorf("rproc: FastRPC scalars: %s = %d does not fit %d bits (at most %d)", f.name, f.v, f.bits, 1<<f.bits-1)
		}
	}
	return s.Attr<<29 | s.Method<<24 | s.InBufs<<16 | s.OutBufs<<8 | s.InHandles<<4 | s.OutHandles, nil
}

// DecodeScalars unpacks an sc word.
func DecodeScalars(sc uint32) Scalars {
	return Scalars{Attr: sc >> 29, Method: sc >> 24 & 0x1f, InBufs: sc >> 16 & 0xff, OutBufs: sc >> 8 & 0xff, InHandles: sc >> 4 & 0xf, OutHandles: sc & 0xf}
}

// Args is the number of remote arguments the kernel reads for sc.
func (s Scalars) Args() int { return int(s.InBufs + s.OutBufs + s.InHandles + s.OutHandles) }

// FastRPC is an open FastRPC node: one client of one DSP domain.
type FastRPC struct {
	fd   int
	path string
}

// OpenFastRPC opens a FastRPC node.
func OpenFastRPC(path string) (*FastRPC, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rproc: %w", &pathError{Op: "open", Path: path, Err: err})
	}
	return &FastRPC{fd: fd, path: path}, nil
}

// Close closes the node; the kernel tears the session down.
func (f *FastRPC) Close() error { return unix.Close(f.fd) }

func (f *FastRPC) ioctl(name string, req uint, arg unsafe.Pointer) error {
	if err := ioctlPtr(f.fd, req, arg); err != nil {
		return ioctlError(name, f.path, err)
	}
	return nil
}

// InitAttach attaches the client to the DSP's root protection domain
// (FASTRPC_IOCTL_INIT_ATTACH), and InitAttachSensors to the sensors PD.
func (f *FastRPC) InitAttach() error {
	return f.ioctl("FASTRPC_IOCTL_INIT_ATTACH", FastRPCIoctlInitAttach, nil)
}

// InitAttachSensors attaches to the sensors protection domain
// (FASTRPC_IOCTL_INIT_ATTACH_SNS).
func (f *FastRPC) InitAttachSensors() error {
	return f.ioctl("FASTRPC_IOCTL_INIT_ATTACH_SNS", FastRPCIoctlInitAttachSns, nil)
}

// InitCreate creates a user protection domain running the DSP-side ELF
// (the shell, fastrpc_shell_N) with the FastRPCMode* attributes
// (FASTRPC_IOCTL_INIT_CREATE).
func (f *FastRPC) InitCreate(elf []byte, attrs uint32) error {
	if len(elf) == 0 {
		return fmt.Errorf("rproc: FASTRPC_IOCTL_INIT_CREATE on %s: empty ELF image", f.path)
	}
	if uint64(len(elf)) > 1<<31 {
		return fmt.Errorf("rproc: FASTRPC_IOCTL_INIT_CREATE on %s: ELF image of %d bytes is too large", f.path, len(elf))
	}
	if attrs >= 1<<7 {
		return fmt.Errorf("rproc: FASTRPC_IOCTL_INIT_CREATE on %s: attributes %#x hold unknown bits (known: %#x)", f.path, attrs, 1<<7-1)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&elf[0])
	init := FastRPCInitCreate{Filelen: uint32(len(elf)), Filefd: -1, Attrs: attrs, File: uint64(uintptr(unsafe.Pointer(&elf[0])))}
	return f.ioctl("FASTRPC_IOCTL_INIT_CREATE", FastRPCIoctlInitCreate, unsafe.Pointer(&init))
}

// Invoke calls method of the remote object handle with in buffers (read
// by the DSP) and out buffers (written by it) (FASTRPC_IOCTL_INVOKE). The
// kernel copies or maps the buffers for the call's duration.
func (f *FastRPC) Invoke(handle, method uint32, in, out [][]byte) error {
	sc, err := Scalars{Method: method, InBufs: uint32(min(len(in), 1<<8)), OutBufs: uint32(min(len(out), 1<<8))}.Encode()
	if err != nil {
		return fmt.Errorf("rproc: FASTRPC_IOCTL_INVOKE on %s: handle %d method %d with %d in and %d out buffers: %w", f.path, handle, method, len(in), len(out), err)
	}
	args, pin := invokeArgs(in, out)
	defer pin.Unpin()
	inv := FastRPCInvoke{Handle: handle, Sc: sc}
	if len(args) > 0 {
		inv.Args = uint64(uintptr(unsafe.Pointer(&args[0])))
	}
	return f.ioctl(fmt.Sprintf("FASTRPC_IOCTL_INVOKE (handle %d, method %d)", handle, method), FastRPCIoctlInvoke, unsafe.Pointer(&inv))
}

// invokeArgs lays out the remote arguments, in buffers first, and pins
// every buffer and the array for the ioctl.
func invokeArgs(in, out [][]byte) ([]FastRPCInvokeArgs, *runtime.Pinner) {
	pin := new(runtime.Pinner)
	args := make([]FastRPCInvokeArgs, 0, len(in)+len(out))
	for _, b := range append(append([][]byte(nil), in...), out...) {
		a := FastRPCInvokeArgs{Length: uint64(len(b)), Fd: -1}
		if len(b) > 0 {
			pin.Pin(&b[0])
			a.Ptr = uint64(uintptr(unsafe.Pointer(&b[0])))
		}
		args = append(args, a)
	}
	if len(args) > 0 {
		pin.Pin(&args[0])
	}
	return args, pin
}

// AllocDMABuf allocates a dma-buf of size bytes shared with the DSP and
// returns its descriptor (FASTRPC_IOCTL_ALLOC_DMA_BUFF).
func (f *FastRPC) AllocDMABuf(size uint64, flags uint32) (int, error) {
	if size == 0 {
		return -1, fmt.Errorf("rproc: FASTRPC_IOCTL_ALLOC_DMA_BUFF on %s: size 0", f.path)
	}
	req := FastRPCAllocDMABuf{Fd: -1, Flags: flags, Size: size}
	if err := f.ioctl("FASTRPC_IOCTL_ALLOC_DMA_BUFF", FastRPCIoctlAllocDMABuff, unsafe.Pointer(&req)); err != nil {
		return -1, err
	}
	return int(req.Fd), nil
}

// Mmap maps size bytes of the dma-buf fd into the DSP process's address
// space (at vaddrin if non-zero) and returns the DSP-side address
// (FASTRPC_IOCTL_MMAP).
func (f *FastRPC) Mmap(fd int, flags uint32, vaddrin, size uint64) (uint64, error) {
	if size == 0 || fd < 0 {
		return 0, fmt.Errorf("rproc: FASTRPC_IOCTL_MMAP on %s: fd %d size %d: need a dma-buf and a non-zero size", f.path, fd, size)
	}
	req := FastRPCReqMmap{Fd: int32(fd), Flags: flags, Vaddrin: vaddrin, Size: size}
	if err := f.ioctl("FASTRPC_IOCTL_MMAP", FastRPCIoctlMmap, unsafe.Pointer(&req)); err != nil {
		return 0, err
	}
	return req.Vaddrout, nil
}

// Munmap unmaps what Mmap mapped (FASTRPC_IOCTL_MUNMAP).
func (f *FastRPC) Munmap(vaddrout, size uint64) error {
	req := FastRPCReqMunmap{Vaddrout: vaddrout, Size: size}
	return f.ioctl("FASTRPC_IOCTL_MUNMAP", FastRPCIoctlMunmap, unsafe.Pointer(&req))
}

// MemMap maps a dma-buf (or part of it) for the DSP with an SMMU
// attribute and returns the DSP address (FASTRPC_IOCTL_MEM_MAP).
func (f *FastRPC) MemMap(fd int, offset int32, flags uint32, vaddrin, length uint64, attrs int32) (uint64, error) {
	if flags >= FastRPCMapMax {
		return 0, fmt.Errorf("rproc: FASTRPC_IOCTL_MEM_MAP on %s: flags %d: want a fastrpc_map_flags value below %d", f.path, flags, FastRPCMapMax)
	}
	req := FastRPCMemMap{Fd: int32(fd), Offset: offset, Flags: flags, Vaddrin: vaddrin, Length: length, Attrs: attrs}
	if err := f.ioctl("FASTRPC_IOCTL_MEM_MAP", FastRPCIoctlMemMap, unsafe.Pointer(&req)); err != nil {
		return 0, err
	}
	return req.Vaddrout, nil
}

// MemUnmap undoes MemMap (FASTRPC_IOCTL_MEM_UNMAP).
func (f *FastRPC) MemUnmap(fd int, vaddr, length uint64) error {
	req := FastRPCMemUnmap{Fd: int32(fd), Vaddr: vaddr, Length: length}
	return f.ioctl("FASTRPC_IOCTL_MEM_UNMAP", FastRPCIoctlMemUnmap, unsafe.Pointer(&req))
}

// Capability queries one DSP capability (FASTRPC_IOCTL_GET_DSP_INFO).
func (f *FastRPC) Capability(domain, attribute uint32) (uint32, error) {
	req := FastRPCCapability{Domain: domain, AttributeID: attribute}
	if err := f.ioctl("FASTRPC_IOCTL_GET_DSP_INFO", FastRPCIoctlGetDSPInfo, unsafe.Pointer(&req)); err != nil {
		return 0, err
	}
	return req.Capability, nil
}
