package pvwire

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/coprocd/coprocd/spec"
)

// Hello is the guest's first packet.
type Hello struct {
	Major, Minor       uint16
	Caps               uint64
	ReqSlots, RspSlots uint32
}

// DeviceInfo describes one of the session's devices (WELCOME).
type DeviceInfo struct {
	Name, Model, Class string
	Window             uint32
	MaxSubmitWords     uint32
	ID, Version        uint32
	MemoryQuota        uint64
}

// Welcome is the host's answer to HELLO.
type Welcome struct {
	Major, Minor uint16
	Caps         uint64
	Layout       Layout
	BufferQuota  uint64
	MaxBuffers   uint32
	Domain       string
	Devices      []DeviceInfo
}

// MapRequest asks the host to map a guest buffer (the memfd travels with it).
type MapRequest struct {
	IOVA, Size, FDOffset uint64
	Perm                 uint32
}

// Sock is one socket packet. Type says which fields are set: Hello,
// Welcome, Map, IOVA (UNMAP), Status and Text (REJECT, GOODBYE,
// SOCK_RESULT), Value (SOCK_RESULT).
type Sock struct {
	Type    spec.PVType
	Tag     uint64
	Hello   Hello
	Welcome Welcome
	Map     MapRequest
	IOVA    uint64
	Status  uint32
	Value   uint64
	Text    string
}

// EncodeSock returns the packet for m.
func EncodeSock(m *Sock) ([]byte, error) {
	fixed := fixedBytes[m.Type]
	if fixed < 0 {
		return nil, fmt.Errorf("pv: cannot encode socket type 0x%02x", uint8(m.Type))
	}
	text := CutText(m.Text)
	n := fixed
	switch m.Type {
	case spec.PVReject, spec.PVGoodbye, spec.PVSockResult:
		n += len(text)
	case spec.PVWelcome:
		if len(m.Welcome.Devices) > spec.PVMaxDevices {
			return nil, fmt.Errorf("pv: %d devices, at most %d", len(m.Welcome.Devices), spec.PVMaxDevices)
		}
		n += spec.PVDevInfoBytes * len(m.Welcome.Devices)
	case spec.PVHello, spec.PVMap, spec.PVUnmap:
	default:
		return nil, fmt.Errorf("pv: type 0x%02x is not a socket message", uint8(m.Type))
	}
	b := make([]byte, spec.PVSockHeaderBytes+n)
	le.PutUint16(b[spec.PVSHType:], uint16(m.Type))
	le.PutUint32(b[spec.PVSHLen:], uint32(n))
	le.PutUint64(b[spec.PVSHTag:], m.Tag)
	p := b[spec.PVSockHeaderBytes:]
	switch m.Type {
	case spec.PVHello:
		h := m.Hello
		le.PutUint32(p[spec.PVHelloMagic:], spec.PVMagic)
		le.PutUint16(p[spec.PVHelloMajor:], h.Major)
		le.PutUint16(p[spec.PVHelloMinor:], h.Minor)
		le.PutUint64(p[spec.PVHelloCaps:], h.Caps)
		le.PutUint32(p[spec.PVHelloReqSlots:], h.ReqSlots)
		le.PutUint32(p[spec.PVHelloRspSlots:], h.RspSlots)
	case spec.PVWelcome:
		w := m.Welcome
		le.PutUint32(p[spec.PVWelMagic:], spec.PVMagic)
		le.PutUint16(p[spec.PVWelMajor:], w.Major)
		le.PutUint16(p[spec.PVWelMinor:], w.Minor)
		le.PutUint64(p[spec.PVWelCaps:], w.Caps)
		le.PutUint32(p[spec.PVWelReqSlots:], w.Layout.ReqSlots)
		le.PutUint32(p[spec.PVWelRspSlots:], w.Layout.RspSlots)
		le.PutUint64(p[spec.PVWelRingBytes:], w.Layout.Bytes)
		le.PutUint32(p[spec.PVWelReqOffset:], w.Layout.ReqOffset)
		le.PutUint32(p[spec.PVWelRspOffset:], w.Layout.RspOffset)
		le.PutUint32(p[spec.PVWelDevices:], uint32(len(w.Devices)))
		le.PutUint64(p[spec.PVWelBufferQuota:], w.BufferQuota)
		le.PutUint32(p[spec.PVWelMaxBuffers:], w.MaxBuffers)
		if err := putChars(p[spec.PVWelDomain:spec.PVWelDomain+spec.PVNameBytes], "domain", w.Domain); err != nil {
			return nil, err
		}
		for i, d := range w.Devices {
			r := p[spec.PVWelFixed+i*spec.PVDevInfoBytes:]
			for _, f := range []struct {
				at, n       int
				name, value string
			}{{spec.PVDevName, spec.PVDeviceNameBytes, "device name", d.Name}, {spec.PVDevModel, spec.PVDeviceNameBytes, "model", d.Model},
				{spec.PVDevClass, spec.PVDeviceClassBytes, "class", d.Class}} {
				if err := putChars(r[f.at:f.at+f.n], f.name, f.value); err != nil {
					return nil, err
				}
			}
			le.PutUint32(r[spec.PVDevWindow:], d.Window)
			le.PutUint32(r[spec.PVDevMaxWords:], d.MaxSubmitWords)
			le.PutUint32(r[spec.PVDevID:], d.ID)
			le.PutUint32(r[spec.PVDevVersion:], d.Version)
			le.PutUint64(r[spec.PVDevMemQuota:], d.MemoryQuota)
		}
	case spec.PVMap:
		le.PutUint64(p[spec.PVMapIOVA:], m.Map.IOVA)
		le.PutUint64(p[spec.PVMapSize:], m.Map.Size)
		le.PutUint64(p[spec.PVMapFDOffset:], m.Map.FDOffset)
		le.PutUint32(p[spec.PVMapPerm:], m.Map.Perm)
	case spec.PVUnmap:
		le.PutUint64(p[spec.PVUnmapIOVA:], m.IOVA)
	case spec.PVSockResult:
		le.PutUint32(p[spec.PVResStatus:], m.Status)
		le.PutUint64(p[spec.PVResValue:], m.Value)
		copy(p[spec.PVResText:], text)
	case spec.PVReject, spec.PVGoodbye:
		le.PutUint32(p[spec.PVByeStatus:], m.Status)
		copy(p[spec.PVByeText:], text)
	}
	return b, nil
}

func putChars(dst []byte, what, s string) error {
	if len(s) >= len(dst) || bytes.IndexByte([]byte(s), 0) >= 0 {
		return fmt.Errorf("pv: %s %q does not fit %d bytes NUL-terminated", what, s, len(dst))
	}
	copy(dst, s)
	return nil
}

func getChars(t spec.PVType, src []byte, what string) (string, error) {
	i := bytes.IndexByte(src, 0)
	if i < 0 {
		return "", malformed(t, "%s is not NUL-terminated within %d bytes", what, len(src))
	}
	for _, c := range src[i:] {
		if c != 0 {
			return "", malformed(t, "%s has bytes after its NUL", what)
		}
	}
	if !utf8.Valid(src[:i]) {
		return "", malformed(t, "%s is not UTF-8", what)
	}
	return string(src[:i]), nil
}

// DecodeSock decodes one socket packet.
func DecodeSock(b []byte) (Sock, error) {
	var m Sock
	if len(b) < spec.PVSockHeaderBytes {
		return m, malformed(0, "packet of %d bytes is shorter than the %d-byte header", len(b), spec.PVSockHeaderBytes)
	}
	t := le.Uint16(b[spec.PVSHType:])
	m.Type = spec.PVType(t)
	m.Tag = le.Uint64(b[spec.PVSHTag:])
	p := b[spec.PVSockHeaderBytes:]
	if t > 0xff {
		return m, &DecodeError{Type: 0, Status: spec.PVStatusUnsupported, Msg: fmt.Sprintf("unknown socket message type 0x%04x", t)}
	}
	if n := le.Uint32(b[spec.PVSHLen:]); uint64(n) != uint64(len(p)) {
		return m, malformed(m.Type, "header says %d payload bytes, packet has %d", n, len(p))
	}
	if r := le.Uint16(b[2:]); r != 0 {
		return m, malformed(m.Type, "reserved header bits 0x%04x", r)
	}
	want := fixedBytes[m.Type]
	switch m.Type {
	case spec.PVHello, spec.PVMap, spec.PVUnmap:
		if len(p) != want {
			return m, malformed(m.Type, "payload of %d bytes, want %d", len(p), want)
		}
	case spec.PVWelcome, spec.PVReject, spec.PVGoodbye, spec.PVSockResult:
		if len(p) < want {
			return m, malformed(m.Type, "payload of %d bytes, want at least %d", len(p), want)
		}
	default:
		return m, &DecodeError{Type: m.Type, Status: spec.PVStatusUnsupported, Msg: fmt.Sprintf("unknown socket message type 0x%02x", t)}
	}
	switch m.Type {
	case spec.PVHello:
		if mg := le.Uint32(p[spec.PVHelloMagic:]); mg != spec.PVMagic {
			return m, malformed(m.Type, "magic 0x%08x, want 0x%08x", mg, spec.PVMagic)
		}
		m.Hello = Hello{Major: le.Uint16(p[spec.PVHelloMajor:]), Minor: le.Uint16(p[spec.PVHelloMinor:]), Caps: le.Uint64(p[spec.PVHelloCaps:]),
			ReqSlots: le.Uint32(p[spec.PVHelloReqSlots:]), RspSlots: le.Uint32(p[spec.PVHelloRspSlots:])}
	case spec.PVWelcome:
		if mg := le.Uint32(p[spec.PVWelMagic:]); mg != spec.PVMagic {
			return m, malformed(m.Type, "magic 0x%08x, want 0x%08x", mg, spec.PVMagic)
		}
		w := &m.Welcome
		w.Major, w.Minor = le.Uint16(p[spec.PVWelMajor:]), le.Uint16(p[spec.PVWelMinor:])
		w.Caps = le.Uint64(p[spec.PVWelCaps:])
		w.Layout = Layout{ReqSlots: le.Uint32(p[spec.PVWelReqSlots:]), RspSlots: le.Uint32(p[spec.PVWelRspSlots:]),
			Bytes: le.Uint64(p[spec.PVWelRingBytes:]), ReqOffset: le.Uint32(p[spec.PVWelReqOffset:]), RspOffset: le.Uint32(p[spec.PVWelRspOffset:])}
		if err := w.Layout.Validate(); err != nil {
			return m, malformed(m.Type, "%v", err)
		}
		w.BufferQuota = le.Uint64(p[spec.PVWelBufferQuota:])
		w.MaxBuffers = le.Uint32(p[spec.PVWelMaxBuffers:])
		var err error
		if w.Domain, err = getChars(m.Type, p[spec.PVWelDomain:spec.PVWelDomain+spec.PVNameBytes], "domain"); err != nil {
			return m, err
		}
		nd := le.Uint32(p[spec.PVWelDevices:])
		if nd > spec.PVMaxDevices || uint64(len(p)) != uint64(want)+uint64(nd)*spec.PVDevInfoBytes {
			return m, malformed(m.Type, "%d devices (at most %d) in %d bytes of records", nd, spec.PVMaxDevices, len(p)-want)
		}
		for i := 0; i < int(nd); i++ {
			r := p[want+i*spec.PVDevInfoBytes:]
			var d DeviceInfo
			if d.Name, err = getChars(m.Type, r[spec.PVDevName:spec.PVDevName+spec.PVDeviceNameBytes], "device name"); err != nil {
				return m, err
			}
			if d.Model, err = getChars(m.Type, r[spec.PVDevModel:spec.PVDevModel+spec.PVDeviceNameBytes], "model"); err != nil {
				return m, err
			}
			if d.Class, err = getChars(m.Type, r[spec.PVDevClass:spec.PVDevClass+spec.PVDeviceClassBytes], "class"); err != nil {
				return m, err
			}
			d.Window, d.MaxSubmitWords = le.Uint32(r[spec.PVDevWindow:]), le.Uint32(r[spec.PVDevMaxWords:])
			d.ID, d.Version = le.Uint32(r[spec.PVDevID:]), le.Uint32(r[spec.PVDevVersion:])
			d.MemoryQuota = le.Uint64(r[spec.PVDevMemQuota:])
			w.Devices = append(w.Devices, d)
		}
	case spec.PVMap:
		m.Map = MapRequest{IOVA: le.Uint64(p[spec.PVMapIOVA:]), Size: le.Uint64(p[spec.PVMapSize:]),
			FDOffset: le.Uint64(p[spec.PVMapFDOffset:]), Perm: le.Uint32(p[spec.PVMapPerm:])}
		if m.Map.Perm < spec.PVPermRead || m.Map.Perm > spec.PVPermReadWrite {
			return m, malformed(m.Type, "permission %d, want 1 (r), 2 (w) or 3 (rw)", m.Map.Perm)
		}
		if le.Uint32(p[28:]) != 0 {
			return m, malformed(m.Type, "reserved field is not zero")
		}
	case spec.PVUnmap:
		m.IOVA = le.Uint64(p[spec.PVUnmapIOVA:])
	case spec.PVSockResult:
		m.Status = le.Uint32(p[spec.PVResStatus:])
		m.Value = le.Uint64(p[spec.PVResValue:])
		m.Text = string(p[spec.PVResText:])
	case spec.PVReject, spec.PVGoodbye:
		m.Status = le.Uint32(p[spec.PVByeStatus:])
		m.Text = string(p[spec.PVByeText:])
	}
	if len(m.Text) > spec.PVMaxText {
		return m, malformed(m.Type, "text of %d bytes, at most %d", len(m.Text), spec.PVMaxText)
	}
	return m, nil
}
