package vfiouser

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// The wire format of QEMU's docs/interop/vfio-user.rst. All integers are in
// the host's byte order, which on every platform coprocd runs on is little
// endian; the spec says "the endianness of the host system", and the
// package refuses to build anywhere else (endian.go).

// HeaderSize is the size of the header that precedes every message.
const HeaderSize = 16

// Command numbers (the spec's "Commands" table).
type Command uint16

const (
	CmdVersion          Command = 1
	CmdDMAMap           Command = 2
	CmdDMAUnmap         Command = 3
	CmdDeviceGetInfo    Command = 4
	CmdDeviceGetRegion  Command = 5
	CmdGetRegionIOFDs   Command = 6
	CmdDeviceGetIRQInfo Command = 7
	CmdDeviceSetIRQs    Command = 8
	CmdRegionRead       Command = 9
	CmdRegionWrite      Command = 10
	CmdDMARead          Command = 11 // server -> client
	CmdDMAWrite         Command = 12 // server -> client
	CmdDeviceReset      Command = 13
	CmdDirtyPages       Command = 14 // withdrawn from the spec; refused
	CmdRegionWriteMulti Command = 15
	CmdDeviceFeature    Command = 16
	CmdMigDataRead      Command = 17
	CmdMigDataWrite     Command = 18
	maxKnownCommand             = CmdMigDataWrite
)

var commandNames = [...]string{
	CmdVersion:          "VFIO_USER_VERSION",
	CmdDMAMap:           "VFIO_USER_DMA_MAP",
	CmdDMAUnmap:         "VFIO_USER_DMA_UNMAP",
	CmdDeviceGetInfo:    "VFIO_USER_DEVICE_GET_INFO",
	CmdDeviceGetRegion:  "VFIO_USER_DEVICE_GET_REGION_INFO",
	CmdGetRegionIOFDs:   "VFIO_USER_DEVICE_GET_REGION_IO_FDS",
	CmdDeviceGetIRQInfo: "VFIO_USER_DEVICE_GET_IRQ_INFO",
	CmdDeviceSetIRQs:    "VFIO_USER_DEVICE_SET_IRQS",
	CmdRegionRead:       "VFIO_USER_REGION_READ",
	CmdRegionWrite:      "VFIO_USER_REGION_WRITE",
	CmdDMARead:          "VFIO_USER_DMA_READ",
	CmdDMAWrite:         "VFIO_USER_DMA_WRITE",
	CmdDeviceReset:      "VFIO_USER_DEVICE_RESET",
	CmdDirtyPages:       "VFIO_USER_DIRTY_PAGES",
	CmdRegionWriteMulti: "VFIO_USER_REGION_WRITE_MULTI",
	CmdDeviceFeature:    "VFIO_USER_DEVICE_FEATURE",
	CmdMigDataRead:      "VFIO_USER_MIG_DATA_READ",
	CmdMigDataWrite:     "VFIO_USER_MIG_DATA_WRITE",
}

func (c Command) String() string {
	if int(c) < len(commandNames) && commandNames[c] != "" {
		return commandNames[c]
	}
	return fmt.Sprintf("command %d", uint16(c))
}

// Header flags.
const (
	FlagTypeMask    = 0xf
	FlagTypeCommand = 0x0
	FlagTypeReply   = 0x1
	FlagNoReply     = 1 << 4
	FlagError       = 1 << 5
	flagsKnown      = FlagTypeMask | FlagNoReply | FlagError
)

// Header is the 16-byte header of every message.
type Header struct {
	ID      uint16
	Command Command
	Size    uint32 // of the whole message, header included
	Flags   uint32
	Error   uint32 // errno of an error reply
}

// IsReply says whether the message is a reply.
func (h Header) IsReply() bool { return h.Flags&FlagTypeMask == FlagTypeReply }

// Put encodes h into b[:HeaderSize].
func (h Header) Put(b []byte) {
	_ = b[HeaderSize-1]
	binary.LittleEndian.PutUint16(b[0:], h.ID)
	binary.LittleEndian.PutUint16(b[2:], uint16(h.Command))
	binary.LittleEndian.PutUint32(b[4:], h.Size)
	binary.LittleEndian.PutUint32(b[8:], h.Flags)
	binary.LittleEndian.PutUint32(b[12:], h.Error)
}

// ProtocolError is a message the server refuses: which message, why, and
// the errno its error reply carries.
type ProtocolError struct {
	Command Command
	ID      uint16
	Errno   syscall.Errno
	Reason  string
	fatal   bool // the connection ends after the error reply
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("vfio-user: %s (message %d): %s (%s)", e.Command, e.ID, e.Reason, e.Errno)
}

func (e *ProtocolError) Unwrap() error { return e.Errno }

// DecodeHeader decodes and validates a header: flags, type and the message
// size against maxSize. It returns the header and, when the header itself is
// unusable, an error; a size beyond maxSize is reported with the header so
// that the caller can discard the payload and keep the stream in step.
func DecodeHeader(b []byte, maxSize uint32) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, &ProtocolError{Errno: syscall.EINVAL, Reason: fmt.Sprintf("header is %d bytes, want %d", len(b), HeaderSize)}
	}
	h := Header{
		ID:      binary.LittleEndian.Uint16(b[0:]),
		Command: Command(binary.LittleEndian.Uint16(b[2:])),
		Size:    binary.LittleEndian.Uint32(b[4:]),
		Flags:   binary.LittleEndian.Uint32(b[8:]),
		Error:   binary.LittleEndian.Uint32(b[12:]),
	}
	fail := func(errno syscall.Errno, format string, args ...any) (Header, error) {
		return h, &ProtocolError{Command: h.Command, ID: h.ID, Errno: errno, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case h.Size < HeaderSize:
		return fail(syscall.EINVAL, "message size %d is smaller than the %d-byte header", h.Size, HeaderSize)
	case h.Flags&^flagsKnown != 0:
		return fail(syscall.EINVAL, "reserved flag bits 0x%x are set", h.Flags&^flagsKnown)
	case h.Flags&FlagTypeMask > FlagTypeReply:
		return fail(syscall.EINVAL, "message type %d is neither command (0) nor reply (1)", h.Flags&FlagTypeMask)
	case h.Size > maxSize:
		return fail(syscall.E2BIG, "message size %d exceeds the limit of %d bytes", h.Size, maxSize)
	}
	return h, nil
}

// Fixed payload sizes (after the header).
const (
	versionFixedSize    = 4  // major, minor
	dmaMapSize          = 32 // argsz, flags, offset, address, size
	dmaUnmapSize        = 24 // argsz, flags, address, size
	deviceInfoSize      = 16 // argsz, flags, num_regions, num_irqs
	regionInfoSize      = 32 // argsz, flags, index, cap_offset, size, offset
	irqInfoSize         = 16 // argsz, flags, index, count
	irqSetSize          = 20 // argsz, flags, index, start, count
	regionAccessSize    = 16 // offset, region, count
	dmaAccessSize       = 16 // address, count
	dmaWriteReplySize   = 12 // address, count (4 bytes, as the spec's table says)
	regionIOFDsReqSize  = 16
	regionWriteMultiHdr = 8
)

// DMA map flags.
const (
	DMAFlagRead  = 1 << 0
	DMAFlagWrite = 1 << 1
)

// DMA unmap flags. The spec leaves flags unused; QEMU's client sends
// VFIO_DMA_UNMAP_FLAG_ALL (from linux/vfio.h) to drop every mapping at once.
const (
	dmaUnmapFlagGetDirtyBitmap = 1 << 0
	DMAUnmapFlagAll            = 1 << 1
)

// DMAMap is the payload of VFIO_USER_DMA_MAP.
type DMAMap struct {
	ArgSz   uint32
	Flags   uint32
	Offset  uint64
	Address uint64
	Size    uint64
}

// DMAUnmap is the payload of VFIO_USER_DMA_UNMAP and of its reply.
type DMAUnmap struct {
	ArgSz   uint32
	Flags   uint32
	Address uint64
	Size    uint64
}

// RegionAccess is the fixed part of VFIO_USER_REGION_READ and _WRITE.
type RegionAccess struct {
	Offset uint64
	Region uint32
	Count  uint32
}

// IRQSet is the fixed part of VFIO_USER_DEVICE_SET_IRQS.
type IRQSet struct {
	ArgSz, Flags, Index, Start, Count uint32
}

// Message is a decoded command: its header and its payload, whose fixed part
// has been checked against the command's size.
type Message struct {
	Header  Header
	Payload []byte
}

// minPayload is the smallest payload each client-to-server command may
// carry; a shorter one is a truncated message.
var minPayload = [...]int{
	CmdVersion:          versionFixedSize,
	CmdDMAMap:           dmaMapSize,
	CmdDMAUnmap:         dmaUnmapSize,
	CmdDeviceGetInfo:    deviceInfoSize,
	CmdDeviceGetRegion:  regionInfoSize,
	CmdGetRegionIOFDs:   regionIOFDsReqSize,
	CmdDeviceGetIRQInfo: irqInfoSize,
	CmdDeviceSetIRQs:    irqSetSize,
	CmdRegionRead:       regionAccessSize,
	CmdRegionWrite:      regionAccessSize,
	CmdDMARead:          dmaAccessSize,
	CmdDMAWrite:         dmaAccessSize,
	CmdDeviceReset:      0,
	CmdRegionWriteMulti: regionWriteMultiHdr,
	CmdDeviceFeature:    0,
	CmdMigDataRead:      0,
	CmdMigDataWrite:     0,
}

// DecodeMessage decodes one whole message (header and payload) as the
// server's reader does, without the socket: b must hold exactly the
// message. It is the decoder the fuzz target drives.
func DecodeMessage(b []byte, maxSize uint32) (Message, error) {
	h, err := DecodeHeader(b, maxSize)
	if err != nil {
		return Message{Header: h}, err
	}
	if int64(h.Size) != int64(len(b)) {
		return Message{Header: h}, &ProtocolError{Command: h.Command, ID: h.ID, Errno: syscall.EINVAL,
			Reason: fmt.Sprintf("message size field says %d bytes, %d arrived", h.Size, len(b))}
	}
	m := Message{Header: h, Payload: b[HeaderSize:]}
	return m, checkPayload(m)
}

// checkPayload checks that a command's payload holds at least its fixed part.
func checkPayload(m Message) error {
	h := m.Header
	if h.IsReply() {
		return nil
	}
	if int(h.Command) >= len(minPayload) || h.Command == 0 {
		return &ProtocolError{Command: h.Command, ID: h.ID, Errno: syscall.ENOSYS,
			Reason: fmt.Sprintf("unknown command %d", uint16(h.Command))}
	}
	if want := minPayload[h.Command]; len(m.Payload) < want {
		return &ProtocolError{Command: h.Command, ID: h.ID, Errno: syscall.EINVAL,
			Reason: fmt.Sprintf("truncated: payload is %d bytes, the command needs at least %d", len(m.Payload), want)}
	}
	return nil
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

func decodeDMAMap(p []byte) DMAMap {
	return DMAMap{ArgSz: le32(p[0:]), Flags: le32(p[4:]), Offset: le64(p[8:]), Address: le64(p[16:]), Size: le64(p[24:])}
}

func decodeDMAUnmap(p []byte) DMAUnmap {
	return DMAUnmap{ArgSz: le32(p[0:]), Flags: le32(p[4:]), Address: le64(p[8:]), Size: le64(p[16:])}
}

func decodeRegionAccess(p []byte) RegionAccess {
	return RegionAccess{Offset: le64(p[0:]), Region: le32(p[8:]), Count: le32(p[12:])}
}

func decodeIRQSet(p []byte) IRQSet {
	return IRQSet{ArgSz: le32(p[0:]), Flags: le32(p[4:]), Index: le32(p[8:]), Start: le32(p[12:]), Count: le32(p[16:])}
}
