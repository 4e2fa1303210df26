package socksprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// SOCKS5 constants (RFC 1928, RFC 1929).
const (
	socksVersion   = 0x05
	methodUserPass = 0x02
	methodNone     = 0xFF // no acceptable method
	authVersion    = 0x01
	cmdConnect     = 0x01
	atypIPv4       = 0x01
	atypDomain     = 0x03
	atypIPv6       = 0x04
)

// errTruncated is returned when the SOCKS server closed the connection in the middle of a reply.
var errTruncated = errors.New("reply cut short")

// reply is a SOCKS5 reply to a request: VER REP RSV ATYP BND.ADDR BND.PORT.
type reply struct {
	Code     byte
	Atyp     byte
	BindAddr string // dotted IPv4, IPv6, or the domain name as sent
	BindPort uint16
}

// readReply reads exactly one SOCKS5 reply from r: the 4-byte header, then BND.ADDR as long as
// ATYP says (4, 16, or 1 + the length byte) and the 2-byte port. It reads nothing beyond the reply.
// An error that wraps io.EOF or errTruncated means the server closed the connection; one that wraps
// a network error (deadline) comes from r.
func readReply(r io.Reader) (reply, error) {
	var hdr [4]byte
	if err := readFull(r, hdr[:]); err != nil {
		return reply{}, err
	}
	if hdr[0] != socksVersion {
		return reply{}, fmt.Errorf("reply has SOCKS version %#02x, want 0x05", hdr[0])
	}
	rp := reply{Code: hdr[1], Atyp: hdr[3]}
	var addrLen int
	switch rp.Atyp {
	case atypIPv4:
		addrLen = 4
	case atypIPv6:
		addrLen = 16
	case atypDomain:
		var n [1]byte
		if err := readFull(r, n[:]); err != nil {
			return reply{}, err
		}
		addrLen = int(n[0])
	default:
		return reply{}, fmt.Errorf("reply (code %#02x) has unknown address type %#02x", rp.Code, rp.Atyp)
	}
	rest := make([]byte, addrLen+2)
	if err := readFull(r, rest); err != nil {
		return reply{}, err
	}
	addr := rest[:addrLen]
	switch rp.Atyp {
	case atypIPv4:
		rp.BindAddr = netip.AddrFrom4([4]byte(addr)).String()
	case atypIPv6:
		rp.BindAddr = netip.AddrFrom16([16]byte(addr)).String()
	default:
		rp.BindAddr = string(addr)
	}
	rp.BindPort = binary.BigEndian.Uint16(rest[addrLen:])
	return rp, nil
}

// readFull is io.ReadFull, with a partial read reported as errTruncated (and a clean EOF as io.EOF).
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

// connectRequest encodes a CONNECT request to host:port (ATYP DOMAINNAME). host must be 1 to 255
// bytes.
func connectRequest(host string, port int) []byte {
	b := make([]byte, 0, 7+len(host))
	b = append(b, socksVersion, cmdConnect, 0x00, atypDomain, byte(len(host)))
	b = append(b, host...)
	return binary.BigEndian.AppendUint16(b, uint16(port))
}

// authRequest encodes an RFC 1929 username/password request; both must be 1 to 255 bytes.
func authRequest(user, pass string) []byte {
	b := make([]byte, 0, 3+len(user)+len(pass))
	b = append(b, authVersion, byte(len(user)))
	b = append(b, user...)
	b = append(b, byte(len(pass)))
	return append(b, pass...)
}
