package torctl

import (
	"bytes"
	"fmt"
	"strings"
)

// onionAddressLen is the length of a v3 onion address without ".onion".
const onionAddressLen = 56

// checkOnionAddress accepts a 56-character base32 v3 address without ".onion" (either case).
// The checksum is tor's business; this only keeps the command line well-formed.
func checkOnionAddress(addr string) error {
	if len(addr) != onionAddressLen {
		return fmt.Errorf("%w: onion address %q: want %d base32 characters without .onion",
			ErrInvalidArgument, addr, onionAddressLen)
	}
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return fmt.Errorf("%w: onion address %q: byte %d is not base32", ErrInvalidArgument, addr, i)
		}
	}
	return nil
}

// normalizeFingerprint accepts a relay identity as 40 hex digits, optionally prefixed with "$"
// and optionally followed by "~nickname" or "=nickname", and returns the 40 upper-case digits.
func normalizeFingerprint(s string) (string, error) {
	fp := strings.TrimPrefix(s, "$")
	if i := strings.IndexAny(fp, "~="); i >= 0 {
		fp = fp[:i]
	}
	if len(fp) != 40 || !isHex(fp) {
		return "", fmt.Errorf("%w: relay fingerprint %q: want 40 hex digits", ErrInvalidArgument, s)
	}
	return strings.ToUpper(fp), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// serverArgs renders " SERVER=<FP>" for each server, after checking every fingerprint.
func serverArgs(servers []string) (string, error) {
	var b strings.Builder
	for _, s := range servers {
		fp, err := normalizeFingerprint(s)
		if err != nil {
			return "", err
		}
		b.WriteString(" SERVER=")
		b.WriteString(fp)
	}
	return b.String(), nil
}

// hsFetchCommand builds "HSFETCH <addr> SERVER=<fp>...". With no servers tor picks one itself.
func hsFetchCommand(addr string, servers []string) (string, error) {
	if err := checkOnionAddress(addr); err != nil {
		return "", err
	}
	args, err := serverArgs(servers)
	if err != nil {
		return "", err
	}
	return "HSFETCH " + strings.ToLower(addr) + args, nil
}

// hsPostCommand builds the whole multi-line HSPOST command except the final CRLF, which the
// textproto writer adds:
//
//	+HSPOST SERVER=<fp>... HSADDRESS=<addr>\r\n<dot-escaped descriptor, CRLF lines>\r\n.
//
// servers must not be empty: without SERVER= tor picks HSDirs from its own time period and the
// first SRV, which is wrong for the second descriptor.
func hsPostCommand(desc []byte, addr string, servers []string) (string, error) {
	if err := checkOnionAddress(addr); err != nil {
		return "", err
	}
	if len(servers) == 0 {
		return "", fmt.Errorf("%w: HSPOST needs at least one SERVER", ErrInvalidArgument)
	}
	args, err := serverArgs(servers)
	if err != nil {
		return "", err
	}
	body, err := dotEncode(desc)
	if err != nil {
		return "", err
	}
	return "+HSPOST" + args + " HSADDRESS=" + strings.ToLower(addr) + "\r\n" + body + ".", nil
}

// dotEncode turns a document into the data part of a multi-line control command: every line ends
// in CRLF (LF and CRLF input are both accepted) and a line starting with "." gets one more ".".
// The terminating "." line is not included. An empty document and NUL bytes are rejected.
func dotEncode(doc []byte) (string, error) {
	if len(doc) == 0 {
		return "", fmt.Errorf("%w: empty descriptor", ErrInvalidArgument)
	}
	if i := bytes.IndexByte(doc, 0); i >= 0 {
		return "", fmt.Errorf("%w: descriptor has a NUL byte at offset %d", ErrInvalidArgument, i)
	}
	text := strings.TrimSuffix(string(doc), "\n")
	var b strings.Builder
	b.Grow(len(text) + len(text)/32 + 2)
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.String(), nil
}
