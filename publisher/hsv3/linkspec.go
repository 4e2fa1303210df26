package hsv3

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
)

// Link specifier types (tor-spec §5.1.2).
const (
	LinkSpecIPv4     = 0 // 4-byte address, 2-byte port
	LinkSpecIPv6     = 1 // 16-byte address, 2-byte port
	LinkSpecLegacyID = 2 // RSA identity digest, 20 bytes
	LinkSpecEd25519  = 3 // Ed25519 identity, 32 bytes
)

var linkSpecSizes = map[uint8]int{
	LinkSpecIPv4:     6,
	LinkSpecIPv6:     18,
	LinkSpecLegacyID: 20,
	LinkSpecEd25519:  32,
}

// LinkSpecifier is one entry of an intro point's link-specifier list.
// Unknown types are kept with their raw data.
type LinkSpecifier struct {
	Type uint8
	Data []byte
}

// AddrPort returns the address of an IPv4 or IPv6 specifier.
func (l LinkSpecifier) AddrPort() (netip.AddrPort, bool) {
	switch {
	case l.Type == LinkSpecIPv4 && len(l.Data) == 6:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(l.Data[:4])), binary.BigEndian.Uint16(l.Data[4:])), true
	case l.Type == LinkSpecIPv6 && len(l.Data) == 18:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(l.Data[:16])), binary.BigEndian.Uint16(l.Data[16:])), true
	}
	return netip.AddrPort{}, false
}

func (l LinkSpecifier) String() string {
	if ap, ok := l.AddrPort(); ok {
		return ap.String()
	}
	switch l.Type {
	case LinkSpecLegacyID:
		return "$" + hex.EncodeToString(l.Data)
	case LinkSpecEd25519:
		return "ed25519:" + hex.EncodeToString(l.Data)
	}
	return fmt.Sprintf("type%d:%x", l.Type, l.Data)
}

// ParseLinkSpecifiers parses NSPEC | NSPEC × (LSTYPE | LSLEN | LSPEC).
// Known types must have their fixed size; trailing bytes are an error.
func ParseLinkSpecifiers(b []byte) ([]LinkSpecifier, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty link specifier list", ErrMalformed)
	}
	n, rest := int(b[0]), b[1:]
	specs := make([]LinkSpecifier, 0, n)
	for i := 0; i < n; i++ {
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: link specifier %d is truncated", ErrMalformed, i)
		}
		typ, size := rest[0], int(rest[1])
		rest = rest[2:]
		if len(rest) < size {
			return nil, fmt.Errorf("%w: link specifier %d is %d bytes, only %d left", ErrMalformed, i, size, len(rest))
		}
		if want, ok := linkSpecSizes[typ]; ok && size != want {
			return nil, fmt.Errorf("%w: link specifier %d (type %d) is %d bytes, want %d", ErrMalformed, i, typ, size, want)
		}
		specs = append(specs, LinkSpecifier{Type: typ, Data: append([]byte(nil), rest[:size]...)})
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last link specifier", ErrMalformed, len(rest))
	}
	return specs, nil
}
