package dfl

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustGUID(t testing.TB, s string) GUID {
	g, err := ParseGUID(s)
	require.NoError(t, err)
	return g
}

func TestParseGUID(t *testing.T) {
	a := mustGUID(t, "F3C99413-5081-4AAD-BCED-07EB84A6D0BB")
	b := mustGUID(t, " "+compatHex+"\n")
	assert.Equal(t, a, b, "the sysfs and the UUID form of one id")
	assert.Equal(t, "f3c99413-5081-4aad-bced-07eb84a6d0bb", a.String())
	for _, bad := range []string{"", "f3c9", "f3c99413x5081-4aad-bced-07eb84a6d0bb", compatHex[:31] + "g"} {
		_, err := ParseGUID(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestParseGBS(t *testing.T) {
	iface, afu := mustGUID(t, compatHex), mustGUID(t, afuHex)
	raw := EncodeGBS(iface, afu, "crc32", []byte{1, 2, 3, 4})
	g, err := ParseGBS(raw)
	require.NoError(t, err)
	assert.Equal(t, iface, g.InterfaceID)
	assert.Equal(t, afu, g.AFUID)
	assert.Equal(t, "crc32", g.Name)
	assert.Equal(t, []byte{1, 2, 3, 4}, g.Bitstream)

	withMeta := func(md string, rest ...byte) []byte {
		b := append([]byte(nil), gbsGUID[:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(md)))
		return append(append(b, md...), rest...)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", raw[:10], "shorter than its 20-byte header"},
		{"not a GBS", append([]byte("0123456789abcdef"), raw[16:]...), "not the GBS GUID"},
		{"length past the end", func() []byte {
			b := append([]byte(nil), raw...)
			binary.LittleEndian.PutUint32(b[16:], 1<<19)
			return b
		}(), "metadata length 524288"},
		{"bad JSON", withMeta("{", 1), "not valid JSON"},
		{"no interface", withMeta(`{"afu-image":{}}`, 1), "lacks afu-image.interface-uuid"},
		{"bad interface", withMeta(`{"afu-image":{"interface-uuid":"nope"}}`, 1), `interface-uuid: dfl: GUID "nope"`},
		{"bad afu", withMeta(`{"afu-image":{"interface-uuid":"`+compatHex+`","accelerator-clusters":[{"accelerator-type-uuid":"x"}]}}`, 1), "accelerator-type-uuid"},
		{"no bitstream", withMeta(`{"afu-image":{"interface-uuid":"` + compatHex + `"}}`), "no bitstream"},
	} {
		_, err := ParseGBS(c.b)
		assert.ErrorContains(t, err, c.want, c.name)
	}
}

// FuzzParseGBS: whatever a GBS file holds, parsing returns a GBS or an
// error, never panics, and what it returns lies within the input.
func FuzzParseGBS(f *testing.F) {
	f.Add(EncodeGBS(GUID{1}, GUID{2}, "x", []byte{9}))
	f.Add(gbsGUID[:])
	f.Add(append(append([]byte(nil), gbsGUID[:]...), 2, 0, 0, 0, '{', '}', 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGBS(b)
		if err != nil {
			assert.Nil(t, g)
			return
		}
		assert.NotEmpty(t, g.Bitstream)
		assert.False(t, g.InterfaceID.IsZero() && len(g.Metadata) == 0)
		assert.Equal(t, len(b), gbsHeaderBytes+len(g.Metadata)+len(g.Bitstream))
		again, err := ParseGUID(g.InterfaceID.String())
		require.NoError(t, err)
		assert.Equal(t, g.InterfaceID, again)
	})
}

// FuzzParseGUID: any text parses or is refused; a parsed id prints and
// parses back to itself.
func FuzzParseGUID(f *testing.F) {
	f.Add(compatHex)
	f.Add("f3c99413-5081-4aad-bced-07eb84a6d0bb")
	f.Add("--------------------------------------")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			return
		}
		back, err := ParseGUID(g.String())
		require.NoError(t, err)
		assert.Equal(t, g, back)
	})
}
