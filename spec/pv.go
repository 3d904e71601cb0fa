package spec

// The paravirtual (PV) wire protocol between a guest's frontend driver and
// coprocd's host endpoint, as data. docs/pv-protocol.md is the prose; this
// file is the single source of truth for the numbers: the Go codec
// (frontend/pvwire) and the generated C header (frontend/cheader) are both
// derived from the tables below, and the tests check that they agree.
//
// Two channels:
//
//   - a UNIX SOCK_SEQPACKET socket, one message per packet: the handshake
//     (HELLO, WELCOME or REJECT, which also carries the ring memfd and the
//     two eventfds with SCM_RIGHTS), buffer registration (MAP with a memfd,
//     UNMAP) and GOODBYE; the socket's end is the session's end;
//   - two single-producer single-consumer rings in one shared memfd: the
//     request ring (guest → host: registers, submissions, device memory) and
//     the response ring (host → guest: results and asynchronous events),
//     with Xen ring.h / virtio EVENT_IDX notification suppression over a
//     doorbell eventfd (guest → host) and an interrupt eventfd (host →
//     guest).
//
// Every integer is little-endian. Every offset below is in bytes.

// Protocol identification and version. A major version change breaks the
// wire format; a minor one only adds (new message types, new capability
// bits), and both sides speak the smaller minor.
const (
	PVMagic        = 0x53565043 // "CPVS" in little-endian bytes: HELLO and WELCOME
	PVRingMagic    = 0x52565043 // "CPVR": first word of the ring memfd
	PVVersionMajor = 1
	PVVersionMinor = 0
)

// Capabilities, negotiated in HELLO/WELCOME: the session uses the bits both
// sides set. Event-index notification suppression is not a capability: it
// is part of version 1.
const (
	// PVCapSubmitIndirect: SUBMIT_INDIRECT (command words in a mapped buffer).
	PVCapSubmitIndirect uint64 = 1 << 0
	// PVCapDeviceMemory: ALLOC_DEVMEM and FREE_DEVMEM.
	PVCapDeviceMemory uint64 = 1 << 1
	// PVCapDeviceRing: the device's own command ring driven through
	// REG_WRITE of its ring registers and doorbell (always possible through
	// registers; the bit says the host keeps the ring's buffer mapped).
	PVCapDeviceRing uint64 = 1 << 2
	// PVCapsAll is every capability version 1.0 defines.
	PVCapsAll = PVCapSubmitIndirect | PVCapDeviceMemory | PVCapDeviceRing
)

// Limits.
const (
	PVSlotBytes         = 64   // a ring slot; messages occupy whole slots
	PVMinRingSlots      = 16   // ring sizes are powers of two in [min, max]
	PVMaxRingSlots      = 4096 //
	PVDefaultRingSlots  = 256  //
	PVMaxMessageSlots   = 64   // a message occupies at most this many slots (and at most half the ring)
	PVMaxText           = 1024 // error and reason texts are cut to this many bytes
	PVMaxDevices        = 16   // vcoprocs in one session
	PVMaxSocketMessage  = 4096 // bytes in one socket packet
	PVMaxFDs            = 3    // file descriptors in one socket packet
	PVPageBytes         = 4096 // buffers and ring regions are page multiples
	PVRingControlBytes  = 4096 // the control page at the start of the ring memfd
	PVNameBytes         = 64   // the domain name field (NUL padded)
	PVDeviceNameBytes   = 32   // device name and model fields (NUL padded)
	PVDeviceClassBytes  = 16   // device class field (NUL padded)
	PVDefaultMaxBuffers = 1024 // buffers one session may have mapped
)

// Ring control page: the producer and consumer indexes and event indexes
// of both rings, each in its own 64-byte cache line. Indexes are free-running
// 32-bit slot counters; a slot's position is index & (slots-1).
//
// Who writes what: the guest writes REQ_PROD, REQ_CONS_EVENT, RSP_CONS and
// RSP_PROD_EVENT; the host writes the other four. Each side keeps its own
// copy of the indexes it writes and never trusts what it reads back: the
// host validates every guest-written index before using it.
const (
	PVCtlMagic        = 0x000 // u32 PVRingMagic
	PVCtlVersion      = 0x004 // u32 major<<16 | minor
	PVCtlReqSlots     = 0x008 // u32
	PVCtlRspSlots     = 0x00C // u32
	PVCtlReqProd      = 0x040 // u32, guest: requests produced
	PVCtlReqCons      = 0x080 // u32, host: requests consumed
	PVCtlReqProdEvent = 0x0C0 // u32, host: "kick the doorbell when you produce slot index N"
	PVCtlReqConsEvent = 0x100 // u32, guest: "kick the interrupt when you consume slot index N"
	PVCtlRspProd      = 0x140 // u32, host: responses produced
	PVCtlRspCons      = 0x180 // u32, guest: responses consumed
	PVCtlRspProdEvent = 0x1C0 // u32, guest: "kick the interrupt when you produce slot index N"
	PVCtlRspConsEvent = 0x200 // u32, host: "kick the doorbell when you consume slot index N"
)

// PVNeedEvent is the notification rule of both rings (virtio's
// vring_need_event): after moving an index from old to new, kick the peer
// when the peer's event index lies in [old, new). A consumer that goes to
// sleep sets its event index to the next slot it expects; one that is busy
// polling leaves it behind, which suppresses kicks.
func PVNeedEvent(event, new, old uint32) bool { return new-event-1 < new-old }

// PVRingBytes is the size of the ring memfd for the given slot counts: the
// control page, the request slots, the response slots, rounded up to pages.
func PVRingBytes(reqSlots, rspSlots uint32) uint64 {
	n := uint64(PVRingControlBytes) + PVSlotBytes*(uint64(reqSlots)+uint64(rspSlots))
	return (n + PVPageBytes - 1) &^ (PVPageBytes - 1)
}

// PVValidRingSlots reports whether n is a power of two in range.
func PVValidRingSlots(n uint32) bool {
	return n >= PVMinRingSlots && n <= PVMaxRingSlots && n&(n-1) == 0
}

// Status codes in RESULT (socket and ring), EVENT and REJECT/GOODBYE
// messages. The text that goes with a non-zero status is the host's error
// message (for mediator errors, the mediator's own text).
const (
	PVStatusOK          = 0
	PVStatusMalformed   = 1  // the message's payload does not match its type's layout
	PVStatusUnsupported = 2  // unknown message type, or a capability not negotiated
	PVStatusNoDevice    = 3  // the device index is not one of the session's
	PVStatusAccess      = 4  // the mediator refused a register access
	PVStatusRefused     = 5  // the mediator refused a submission
	PVStatusQuota       = 6  // over a buffer or memory quota
	PVStatusBadBuffer   = 7  // a MAP's fd, size, offset or seals are unusable; UNMAP of nothing
	PVStatusDescriptor  = 8  // a descriptor points outside every mapped buffer
	PVStatusDeviceMem   = 9  // device memory could not be allocated or freed
	PVStatusVersion     = 10 // REJECT: no common major version
	PVStatusNoDomain    = 11 // REJECT: the peer's credentials match no domain
	PVStatusBusy        = 12 // REJECT: the domain already has a session
	PVStatusProtocol    = 13 // GOODBYE: the peer broke the protocol (ring indexes, framing)
	PVStatusStalled     = 14 // GOODBYE: the guest stopped consuming responses
	PVStatusShutdown    = 15 // GOODBYE: the host is shutting down
	PVStatusInternal    = 16 // the host failed for a reason of its own
	PVStatusJobFailed   = 17 // EVENT: a job failed or was aborted
)

// PVStatusNames names the status codes (for messages and the C header).
var PVStatusNames = map[uint32]string{
	PVStatusOK: "OK", PVStatusMalformed: "MALFORMED", PVStatusUnsupported: "UNSUPPORTED",
	PVStatusNoDevice: "NO_DEVICE", PVStatusAccess: "ACCESS", PVStatusRefused: "REFUSED",
	PVStatusQuota: "QUOTA", PVStatusBadBuffer: "BAD_BUFFER", PVStatusDescriptor: "DESCRIPTOR",
	PVStatusDeviceMem: "DEVICE_MEMORY", PVStatusVersion: "VERSION", PVStatusNoDomain: "NO_DOMAIN",
	PVStatusBusy: "BUSY", PVStatusProtocol: "PROTOCOL", PVStatusStalled: "STALLED",
	PVStatusShutdown: "SHUTDOWN", PVStatusInternal: "INTERNAL", PVStatusJobFailed: "JOB_FAILED",
}

// Event kinds in a ring EVENT message (the mediator's event kinds).
const (
	PVEventFence     = 1 // a FENCE completed; value is its value
	PVEventJobDone   = 2 // job completed
	PVEventJobFailed = 3 // job aborted by a fault or the device; text says why
	PVEventRefused   = 4 // a submission was refused (also answered in its RESULT)
	PVEventTimeout   = 5 // the watchdog aborted job
)

// Buffer and device-memory permissions (the IOMMU's).
const (
	PVPermRead      = 1
	PVPermWrite     = 2
	PVPermReadWrite = 3
)

// PVChannel says where a message travels.
type PVChannel uint8

const (
	PVSocket       PVChannel = iota + 1 // a SOCK_SEQPACKET packet, either direction
	PVRingRequest                       // a request ring message (guest → host)
	PVRingResponse                      // a response ring message (host → guest)
)

// PVType is a message type; the numbering is shared by all channels so a
// type names one layout.
type PVType uint8

// Message types.
const (
	PVPad            PVType = 0x01 // ring: skip to the end of the ring
	PVHello          PVType = 0x02 // socket, guest → host
	PVWelcome        PVType = 0x03 // socket, host → guest, + fds: ring memfd, doorbell, interrupt
	PVReject         PVType = 0x04 // socket, host → guest, then the host closes
	PVMap            PVType = 0x05 // socket, guest → host, + fd: a sealed memfd
	PVUnmap          PVType = 0x06 // socket, guest → host
	PVSockResult     PVType = 0x07 // socket, host → guest: the answer to MAP or UNMAP
	PVGoodbye        PVType = 0x08 // socket, either direction, then close
	PVRegRead        PVType = 0x10 // request ring
	PVRegWrite       PVType = 0x11 // request ring
	PVSubmit         PVType = 0x12 // request ring: command words inline
	PVSubmitIndirect PVType = 0x13 // request ring: command words in a mapped buffer
	PVAllocDevMem    PVType = 0x14 // request ring
	PVFreeDevMem     PVType = 0x15 // request ring
	PVPing           PVType = 0x16 // request ring: answered with an empty RESULT
	PVResult         PVType = 0x20 // response ring: the answer to one request (same tag)
	PVEvent          PVType = 0x21 // response ring: an asynchronous event (tag 0)
)

// Message headers. Every ring message starts with PVRingHeader and occupies
// Slots whole slots; every socket packet starts with PVSockHeader.
const (
	PVRingHeaderBytes = 16
	PVSockHeaderBytes = 16
)

// PVFieldKind is the C type of a field.
type PVFieldKind uint8

const (
	PVU8 PVFieldKind = iota + 1
	PVU16
	PVU32
	PVU64
	PVChars // a NUL-padded character array of Bytes bytes
)

// PVField is one fixed field of a layout.
type PVField struct {
	Name   string
	Offset int
	Kind   PVFieldKind
	Bytes  int // for PVChars
	Doc    string
}

// Size is the field's width in bytes.
func (f PVField) Size() int {
	switch f.Kind {
	case PVU8:
		return 1
	case PVU16:
		return 2
	case PVU32:
		return 4
	case PVU64:
		return 8
	}
	return f.Bytes
}

// PVTrailer is what follows a layout's fixed fields.
type PVTrailer uint8

const (
	PVNoTrailer      PVTrailer = iota
	PVTrailerWords             // little-endian u64 command words, as many as the count field says
	PVTrailerText              // UTF-8 text up to the payload's end (at most PVMaxText bytes)
	PVTrailerDevices           // PVDeviceInfo records, as many as the count field says
)

// PVLayout is the fixed part of a header or a payload.
type PVLayout struct {
	Name    string
	Type    PVType // 0 for headers and records
	Channel PVChannel
	Bytes   int // size of the fixed part
	Fields  []PVField
	Trailer PVTrailer
	FDs     int // file descriptors that travel with it (SCM_RIGHTS)
	Doc     string
}

// Field offsets of the layouts, for the codecs. Payload offsets are from
// the payload's start, which is right after the header.
const (
	// PVRingHeader
	PVRHType, PVRHFlags, PVRHSlots, PVRHLen, PVRHTag = 0, 1, 2, 4, 8
	// PVSockHeader
	PVSHType, PVSHLen, PVSHTag = 0, 4, 8

	// device-addressed ring requests share their first fields
	PVReqDev, PVReqSize, PVReqPerm, PVReqOffset, PVReqCount = 0, 2, 2, 4, 4
	PVReqValue, PVReqIOVA, PVReqBytes                       = 8, 8, 16

	// RESULT (ring and socket)
	PVResStatus, PVResValue, PVResText = 0, 8, 16
	// EVENT
	PVEvDev, PVEvKind, PVEvStatus, PVEvJob, PVEvValue, PVEvText = 0, 2, 4, 8, 16, 24

	// HELLO
	PVHelloMagic, PVHelloMajor, PVHelloMinor, PVHelloCaps, PVHelloReqSlots, PVHelloRspSlots = 0, 4, 6, 8, 16, 20
	// WELCOME
	PVWelMagic, PVWelMajor, PVWelMinor, PVWelCaps, PVWelReqSlots, PVWelRspSlots = 0, 4, 6, 8, 16, 20
	PVWelRingBytes, PVWelReqOffset, PVWelRspOffset, PVWelDevices                = 24, 32, 36, 40
	PVWelBufferQuota, PVWelMaxBuffers, PVWelDomain, PVWelFixed                  = 48, 56, 64, 128
	// PVDeviceInfo records after WELCOME's fixed part
	PVDevName, PVDevModel, PVDevClass, PVDevWindow, PVDevMaxWords = 0, 32, 64, 80, 84
	PVDevID, PVDevVersion, PVDevMemQuota, PVDevInfoBytes          = 88, 92, 96, 128
	// REJECT, GOODBYE
	PVByeStatus, PVByeText = 0, 8
	// MAP
	PVMapIOVA, PVMapSize, PVMapFDOffset, PVMapPerm = 0, 8, 16, 24
	// UNMAP
	PVUnmapIOVA = 0
)

// PVLayouts is every layout of protocol version 1.0.
var PVLayouts = []PVLayout{
	{Name: "ring_header", Bytes: PVRingHeaderBytes, Doc: "starts every ring message", Fields: []PVField{
		{"type", PVRHType, PVU8, 0, "PVType"},
		{"flags", PVRHFlags, PVU8, 0, "zero in 1.0"},
		{"slots", PVRHSlots, PVU16, 0, "64-byte slots the message occupies, header included: 1 to PV_MAX_MESSAGE_SLOTS"},
		{"len", PVRHLen, PVU32, 0, "payload bytes after the header, at most slots*64-16"},
		{"tag", PVRHTag, PVU64, 0, "chosen by the guest, echoed in the RESULT; 0 in EVENT and PAD"},
	}},
	{Name: "sock_header", Bytes: PVSockHeaderBytes, Doc: "starts every socket packet", Fields: []PVField{
		{"type", PVSHType, PVU16, 0, "PVType"},
		{"reserved", 2, PVU16, 0, "zero"},
		{"len", PVSHLen, PVU32, 0, "payload bytes after the header; the packet is exactly header+len"},
		{"tag", PVSHTag, PVU64, 0, "chosen by the guest, echoed in SOCK_RESULT"},
	}},
	{Name: "pad", Type: PVPad, Channel: PVRingRequest, Doc: "ring filler: the consumer skips its slots; sent when a message would not fit before the ring's end (both rings)"},
	{Name: "hello", Type: PVHello, Channel: PVSocket, Bytes: 24, Doc: "the guest's first packet", Fields: []PVField{
		{"magic", PVHelloMagic, PVU32, 0, "PV_MAGIC"},
		{"major", PVHelloMajor, PVU16, 0, "the guest's major version"},
		{"minor", PVHelloMinor, PVU16, 0, "the highest minor the guest speaks"},
		{"caps", PVHelloCaps, PVU64, 0, "capabilities the guest wants"},
		{"req_slots", PVHelloReqSlots, PVU32, 0, "request ring slots wanted, 0 for the default"},
		{"rsp_slots", PVHelloRspSlots, PVU32, 0, "response ring slots wanted, 0 for the default"},
	}},
	{Name: "welcome", Type: PVWelcome, Channel: PVSocket, Bytes: PVWelFixed, Trailer: PVTrailerDevices, FDs: 3,
		Doc: "the host's answer; fds: ring memfd (sealed), doorbell eventfd, interrupt eventfd", Fields: []PVField{
			{"magic", PVWelMagic, PVU32, 0, "PV_MAGIC"},
			{"major", PVWelMajor, PVU16, 0, "the session's major version"},
			{"minor", PVWelMinor, PVU16, 0, "the session's minor: min(guest, host)"},
			{"caps", PVWelCaps, PVU64, 0, "capabilities granted: the guest's & the host's"},
			{"req_slots", PVWelReqSlots, PVU32, 0, "request ring slots"},
			{"rsp_slots", PVWelRspSlots, PVU32, 0, "response ring slots"},
			{"ring_bytes", PVWelRingBytes, PVU64, 0, "size of the ring memfd to mmap"},
			{"req_offset", PVWelReqOffset, PVU32, 0, "offset of the request slots in the memfd"},
			{"rsp_offset", PVWelRspOffset, PVU32, 0, "offset of the response slots in the memfd"},
			{"devices", PVWelDevices, PVU32, 0, "device records that follow; the guest names a device by its index"},
			{"reserved", 44, PVU32, 0, "zero"},
			{"buffer_quota", PVWelBufferQuota, PVU64, 0, "bytes of guest buffers the session may map"},
			{"max_buffers", PVWelMaxBuffers, PVU32, 0, "buffers the session may map"},
			{"reserved2", 60, PVU32, 0, "zero"},
			{"domain", PVWelDomain, PVChars, PVNameBytes, "the domain the peer was identified as"},
		}},
	{Name: "device_info", Bytes: PVDevInfoBytes, Doc: "one of WELCOME's device records", Fields: []PVField{
		{"name", PVDevName, PVChars, PVDeviceNameBytes, "the device's name in the daemon"},
		{"model", PVDevModel, PVChars, PVDeviceNameBytes, "the device model (spec), e.g. coprocd-refgpu"},
		{"class", PVDevClass, PVChars, PVDeviceClassBytes, "gpu, dsp or fpga"},
		{"window", PVDevWindow, PVU32, 0, "register window size in bytes"},
		{"max_submit_words", PVDevMaxWords, PVU32, 0, "largest command buffer the device accepts"},
		{"id", PVDevID, PVU32, 0, "the device's ID register"},
		{"version", PVDevVersion, PVU32, 0, "the device's VERSION register"},
		{"memory_quota", PVDevMemQuota, PVU64, 0, "device memory the domain may allocate"},
		{"reserved", 104, PVU64, 0, "zero"},
		{"reserved2", 112, PVU64, 0, "zero"},
		{"reserved3", 120, PVU64, 0, "zero"},
	}},
	{Name: "reject", Type: PVReject, Channel: PVSocket, Bytes: 8, Trailer: PVTrailerText, Doc: "the host refuses the session and closes", Fields: []PVField{
		{"status", PVByeStatus, PVU32, 0, "VERSION, NO_DOMAIN, BUSY, MALFORMED, INTERNAL"},
		{"reserved", 4, PVU32, 0, "zero"},
	}},
	{Name: "map", Type: PVMap, Channel: PVSocket, Bytes: 32, FDs: 1,
		Doc: "map a guest buffer; fd: a memfd sealed with F_SEAL_SHRINK, at least fd_offset+size bytes", Fields: []PVField{
			{"iova", PVMapIOVA, PVU64, 0, "page-aligned address in the domain's I/O address space"},
			{"size", PVMapSize, PVU64, 0, "bytes, a positive multiple of the page"},
			{"fd_offset", PVMapFDOffset, PVU64, 0, "page-aligned offset into the memfd"},
			{"perm", PVMapPerm, PVU32, 0, "PV_PERM_*: what the device may do"},
			{"reserved", 28, PVU32, 0, "zero"},
		}},
	{Name: "unmap", Type: PVUnmap, Channel: PVSocket, Bytes: 8, Doc: "release the buffer mapped at iova", Fields: []PVField{
		{"iova", PVUnmapIOVA, PVU64, 0, "the iova of a MAP"},
	}},
	{Name: "sock_result", Type: PVSockResult, Channel: PVSocket, Bytes: 16, Trailer: PVTrailerText, Doc: "the answer to MAP or UNMAP (same tag)", Fields: []PVField{
		{"status", PVResStatus, PVU32, 0, "PV_STATUS_*"},
		{"reserved", 4, PVU32, 0, "zero"},
		{"value", PVResValue, PVU64, 0, "0"},
	}},
	{Name: "goodbye", Type: PVGoodbye, Channel: PVSocket, Bytes: 8, Trailer: PVTrailerText, Doc: "the sender ends the session and closes; text says why", Fields: []PVField{
		{"status", PVByeStatus, PVU32, 0, "PV_STATUS_*"},
		{"reserved", 4, PVU32, 0, "zero"},
	}},
	{Name: "reg_read", Type: PVRegRead, Channel: PVRingRequest, Bytes: 8, Doc: "read a register; RESULT value is the register's value", Fields: []PVField{
		{"dev", PVReqDev, PVU16, 0, "device index"},
		{"size", PVReqSize, PVU8, 0, "1, 2, 4 or 8"},
		{"reserved", 3, PVU8, 0, "zero"},
		{"offset", PVReqOffset, PVU32, 0, "offset in the register window"},
	}},
	{Name: "reg_write", Type: PVRegWrite, Channel: PVRingRequest, Bytes: 16, Doc: "write a register", Fields: []PVField{
		{"dev", PVReqDev, PVU16, 0, "device index"},
		{"size", PVReqSize, PVU8, 0, "1, 2, 4 or 8"},
		{"reserved", 3, PVU8, 0, "zero"},
		{"offset", PVReqOffset, PVU32, 0, "offset in the register window"},
		{"value", PVReqValue, PVU64, 0, "the value"},
	}},
	{Name: "submit", Type: PVSubmit, Channel: PVRingRequest, Bytes: 8, Trailer: PVTrailerWords, Doc: "submit a command buffer inline; RESULT value is the job id", Fields: []PVField{
		{"dev", PVReqDev, PVU16, 0, "device index"},
		{"reserved", 2, PVU16, 0, "zero"},
		{"words", PVReqCount, PVU32, 0, "command words that follow, at least 1"},
	}},
	{Name: "submit_indirect", Type: PVSubmitIndirect, Channel: PVRingRequest, Bytes: 16, Doc: "submit the command words at iova of a mapped buffer; RESULT value is the job id", Fields: []PVField{
		{"dev", PVReqDev, PVU16, 0, "device index"},
		{"reserved", 2, PVU16, 0, "zero"},
		{"words", PVReqCount, PVU32, 0, "command words, at least 1"},
		{"iova", PVReqIOVA, PVU64, 0, "8-byte aligned; [iova, iova+8*words) must lie in one mapped buffer"},
	}},
	{Name: "alloc_devmem", Type: PVAllocDevMem, Channel: PVRingRequest, Bytes: 24, Doc: "allocate device memory and map it at iova", Fields: []PVField{
		{"dev", PVReqDev, PVU16, 0, "device index"},
		{"perm", PVReqPerm, PVU8, 0, "PV_PERM_*"},
		{"reserved", 3, PVU8, 0, "zero"},
		{"reserved2", 4, PVU32, 0, "zero"},
		{"iova", PVReqIOVA, PVU64, 0, "page-aligned"},
		{"bytes", PVReqBytes, PVU64, 0, "size"},
	}},
	{Name: "free_devmem", Type: PVFreeDevMem, Channel: PVRingRequest, Bytes: 16, Doc: "free the device memory at iova (it is scrubbed)", Fields: []PVField{
		{"dev", PVReqDev, PVU16, 0, "device index"},
		{"reserved", 2, PVU16, 0, "zero"},
		{"reserved2", 4, PVU32, 0, "zero"},
		{"iova", PVReqIOVA, PVU64, 0, "the iova of an ALLOC_DEVMEM"},
	}},
	{Name: "ping", Type: PVPing, Channel: PVRingRequest, Doc: "answered with an empty RESULT"},
	{Name: "result", Type: PVResult, Channel: PVRingResponse, Bytes: 16, Trailer: PVTrailerText, Doc: "the answer to the request with the same tag", Fields: []PVField{
		{"status", PVResStatus, PVU32, 0, "PV_STATUS_*; text is the error when not OK"},
		{"reserved", 4, PVU32, 0, "zero"},
		{"value", PVResValue, PVU64, 0, "register value, job id, or 0"},
	}},
	{Name: "event", Type: PVEvent, Channel: PVRingResponse, Bytes: 24, Trailer: PVTrailerText, Doc: "something happened on a device; tag 0", Fields: []PVField{
		{"dev", PVEvDev, PVU16, 0, "device index"},
		{"kind", PVEvKind, PVU8, 0, "PV_EVENT_*"},
		{"reserved", 3, PVU8, 0, "zero"},
		{"status", PVEvStatus, PVU32, 0, "OK, or JOB_FAILED / REFUSED with text"},
		{"job", PVEvJob, PVU64, 0, "job id"},
		{"value", PVEvValue, PVU64, 0, "fence value for FENCE"},
	}},
}

// PVLayoutOf returns the layout of a message type.
func PVLayoutOf(t PVType) (*PVLayout, bool) {
	for i := range PVLayouts {
		if PVLayouts[i].Type == t && t != 0 {
			return &PVLayouts[i], true
		}
	}
	return nil, false
}

// PVMaxInlineWords is the most command words one SUBMIT can carry in a
// ring of the given size.
func PVMaxInlineWords(slots uint32) int {
	k := min(uint32(PVMaxMessageSlots), slots/2)
	return (int(k)*PVSlotBytes - PVRingHeaderBytes - 8) / 8
}
