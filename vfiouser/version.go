package vfiouser

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"syscall"
)

// Capabilities is the "capabilities" object of the version data. Unknown
// keys are ignored (encoding/json's default), so a client that proposes
// capabilities this server does not know still connects; they are simply
// not granted.
type Capabilities struct {
	MaxMsgFDs       *uint64         `json:"max_msg_fds,omitempty"`
	MaxDataXferSize *uint64         `json:"max_data_xfer_size,omitempty"`
	MaxDMAMaps      *uint64         `json:"max_dma_maps,omitempty"`
	PgSizes         *uint64         `json:"pgsizes,omitempty"`
	Migration       json.RawMessage `json:"migration,omitempty"`
	TwinSocket      json.RawMessage `json:"twin_socket,omitempty"`
	WriteMultiple   *bool           `json:"write_multiple,omitempty"`
}

// VersionData is the JSON document after the version numbers.
type VersionData struct {
	Capabilities *Capabilities `json:"capabilities,omitempty"`
}

// PageSize is the only DMA page size the server supports (pgsizes): the
// IOMMU context's page.
const PageSize = 4096

// version: VFIO_USER_VERSION. The reply keeps the proposed major (only 0 is
// spoken), lowers the minor to what the server knows, and lists the
// server's capabilities: a subset of what may be proposed, never migration
// (not implemented), twin_socket or write_multiple.
func (s *session) version(m Message, _ []int, out []byte) ([]byte, error) {
	major, minor := binary.LittleEndian.Uint16(m.Payload), binary.LittleEndian.Uint16(m.Payload[2:])
	if major != VersionMajor {
		return out, s.fatal(m, syscall.ENOTSUP, "protocol major version %d proposed; this server speaks %d", major, VersionMajor)
	}
	data := bytes.TrimRight(m.Payload[versionFixedSize:], "\x00")
	s.clientMaxXfer = DefaultMaxDataXferSize
	if len(data) > 0 {
		var vd VersionData
		if err := json.Unmarshal(data, &vd); err != nil {
			return out, s.fatal(m, syscall.EINVAL, "version data is not valid JSON: %v", err)
		}
		if c := vd.Capabilities; c != nil {
			if c.PgSizes != nil && *c.PgSizes&PageSize == 0 {
				return out, s.fatal(m, syscall.ENOTSUP, "pgsizes 0x%x does not include the %d-byte page this server needs", *c.PgSizes, PageSize)
			}
			if c.MaxDataXferSize != nil {
				if *c.MaxDataXferSize == 0 {
					return out, s.fatal(m, syscall.EINVAL, "max_data_xfer_size is 0")
				}
				s.clientMaxXfer = *c.MaxDataXferSize
			}
		}
	}
	fds := uint64(s.s.opts.MaxMsgFDs)
	xfer := uint64(s.s.opts.MaxDataXferSize)
	maps := uint64(s.s.opts.MaxDMAMaps)
	pg := uint64(PageSize)
	reply, err := json.Marshal(VersionData{Capabilities: &Capabilities{MaxMsgFDs: &fds, MaxDataXferSize: &xfer, MaxDMAMaps: &maps, PgSizes: &pg}})
	if err != nil {
		return out, s.fail(m, syscall.EIO, "encoding capabilities: %v", err)
	}
	out = binary.LittleEndian.AppendUint16(out, VersionMajor)
	out = binary.LittleEndian.AppendUint16(out, min(minor, VersionMinor))
	out = append(out, reply...)
	out = append(out, 0)
	s.negotiated = true
	s.s.log.Info("vfio-user version negotiated", "major", major, "minor", min(minor, VersionMinor), "client", string(data))
	return out, nil
}
