package dfl

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// GUID is a 128-bit id (an AFU id, a PR interface id) in the byte order of
// its text form: sysfs prints afu_id and compat_id as 32 hex digits, high
// 64 bits first, and GBS metadata writes the same value as a dashed UUID.
type GUID [16]byte

// String writes the dashed, lower-case UUID form.
func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IsZero reports whether g is all zeros (no id).
func (g GUID) IsZero() bool { return g == GUID{} }

// ParseGUID accepts the sysfs form (32 hex digits) and the dashed UUID
// form, in either case, with surrounding white space.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	t := strings.TrimSpace(s)
	if len(t) == 36 {
		if t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
			return g, fmt.Errorf("dfl: GUID %q: dashes must be at 8, 13, 18 and 23", s)
		}
		t = t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:]
	}
	if len(t) != 32 {
		return g, fmt.Errorf("dfl: GUID %q: want 32 hex digits or a dashed UUID", s)
	}
	if _, err := hex.Decode(g[:], []byte(t)); err != nil {
		return GUID{}, fmt.Errorf("dfl: GUID %q: %v", s, err)
	}
	return g, nil
}

// gbsGUID marks a green bitstream (GBS) file with JSON metadata, as
// OPAE's tools write it.
var gbsGUID = GUID{0x58, 0x65, 0x6F, 0x6E, 0x46, 0x50, 0x47, 0x41, 0xB7, 0x47, 0x42, 0x53, 0x76, 0x30, 0x30, 0x31}

const (
	gbsHeaderBytes   = 20      // GUID + little-endian uint32 metadata length
	maxMetadataBytes = 1 << 20 // metadata is a few hundred bytes; refuse absurd lengths
)

// GBS is a parsed green bitstream: the PR interface it was built against,
// the accelerator it implements, and the raw partial bitstream that
// DFL_FPGA_FME_PORT_PR takes.
type GBS struct {
	InterfaceID GUID
	AFUID       GUID // zero when the metadata names no accelerator cluster
	Name        string
	Metadata    []byte
	Bitstream   []byte
}

// gbsMetadata is the part of OPAE's metadata this package reads.
type gbsMetadata struct {
	AFUImage *struct {
		InterfaceUUID string `json:"interface-uuid"`
		Clusters      []struct {
			Name string `json:"name"`
			UUID string `json:"accelerator-type-uuid"`
		} `json:"accelerator-clusters"`
	} `json:"afu-image"`
}

// ParseGBS parses a GBS file: the GBS GUID, the metadata length, the JSON
// metadata (afu-image.interface-uuid is required: without it the
// interface check before a partial reconfiguration cannot be made) and the
// bitstream after it, which must not be empty. The returned slices alias b.
func ParseGBS(b []byte) (*GBS, error) {
	if len(b) < gbsHeaderBytes {
		return nil, fmt.Errorf("dfl: GBS of %d bytes is shorter than its %d-byte header", len(b), gbsHeaderBytes)
	}
	var magic GUID
	copy(magic[:], b)
	if magic != gbsGUID {
		return nil, fmt.Errorf("dfl: GBS starts with %s, not the GBS GUID %s", magic, gbsGUID)
	}
	n := binary.LittleEndian.Uint32(b[16:])
	if n == 0 || n > maxMetadataBytes || uint64(n) > uint64(len(b)-gbsHeaderBytes) {
		return nil, fmt.Errorf("dfl: GBS metadata length %d: want 1 to %d bytes within the %d bytes after the header", n, maxMetadataBytes, len(b)-gbsHeaderBytes)
	}
	meta := b[gbsHeaderBytes : gbsHeaderBytes+int(n)]
	var md gbsMetadata
	if err := json.Unmarshal(meta, &md); err != nil {
		return nil, fmt.Errorf("dfl: GBS metadata is not valid JSON: %v", err)
	}
	if md.AFUImage == nil || md.AFUImage.InterfaceUUID == "" {
		return nil, errors.New("dfl: GBS metadata lacks afu-image.interface-uuid")
	}
	g := &GBS{Metadata: meta, Bitstream: b[gbsHeaderBytes+int(n):]}
	var err error
	if g.InterfaceID, err = ParseGUID(md.AFUImage.InterfaceUUID); err != nil {
		return nil, fmt.Errorf("dfl: GBS afu-image.interface-uuid: %w", err)
	}
	if len(md.AFUImage.Clusters) > 0 {
		c := md.AFUImage.Clusters[0]
		g.Name = c.Name
		if c.UUID != "" {
			if g.AFUID, err = ParseGUID(c.UUID); err != nil {
				return nil, fmt.Errorf("dfl: GBS accelerator-type-uuid: %w", err)
			}
		}
	}
	if len(g.Bitstream) == 0 {
		return nil, errors.New("dfl: GBS holds metadata but no bitstream")
	}
	return g, nil
}

// EncodeGBS builds a GBS file from its parts, for tests and tools.
func EncodeGBS(iface, afu GUID, name string, bitstream []byte) []byte {
	md := fmt.Sprintf(`{"version":1,"afu-image":{"interface-uuid":"%s","accelerator-clusters":[{"name":%q,"accelerator-type-uuid":"%s"}]}}`, iface, name, afu)
	b := append([]byte(nil), gbsGUID[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(md)))
	b = append(b, md...)
	return append(b, bitstream...)
}
