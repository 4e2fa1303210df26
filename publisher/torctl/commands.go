package torctl

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cretz/bine/control"
)

// GETINFO keys the publisher needs.
const (
	keyConsensus = "dir/status-vote/current/consensus-microdesc"
	keyMicrodesc = "md/all"
	keyBootstrap = "status/bootstrap-phase"
)

// GetInfo returns the value of one GETINFO key. A multi-line value (a document) is returned with
// LF line endings and a final "\n".
func (c *Client) GetInfo(ctx context.Context, key string) (string, error) {
	if !isInfoKey(key) {
		return "", fmt.Errorf("%w: GETINFO key %q", ErrInvalidArgument, key)
	}
	resp, err := c.request(ctx, "GETINFO", "GETINFO %s", key)
	if err != nil {
		return "", err
	}
	return infoValue(resp, key)
}

// isInfoKey accepts the characters tor's GETINFO keys use, which keeps the command one line.
func isInfoKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c >= 0x7f || c == '"' {
			return false
		}
	}
	return true
}

// infoValue finds key in a GETINFO reply: "250-key=value" or "250+key=" plus a data block.
func infoValue(resp *control.Response, key string) (string, error) {
	for _, line := range resp.Data {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k != key {
			continue
		}
		if block, ok := strings.CutPrefix(v, "\r\n"); ok {
			// bine trims the data block's final newline; documents end with one.
			if block != "" && !strings.HasSuffix(block, "\n") {
				block += "\n"
			}
			return block, nil
		}
		return v, nil
	}
	return "", fmt.Errorf("torctl: GETINFO %s: key missing from reply %q", key, resp.RawLines)
}

// Consensus returns tor's current microdescriptor consensus.
func (c *Client) Consensus(ctx context.Context) ([]byte, error) {
	v, err := c.GetInfo(ctx, keyConsensus)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, fmt.Errorf("torctl: GETINFO %s: tor has no consensus yet", keyConsensus)
	}
	return []byte(v), nil
}

// Microdescs returns every microdescriptor tor has, concatenated (GETINFO md/all). It may be
// empty while tor is still bootstrapping.
func (c *Client) Microdescs(ctx context.Context) ([]byte, error) {
	v, err := c.GetInfo(ctx, keyMicrodesc)
	if err != nil {
		return nil, err
	}
	return []byte(v), nil
}

// Bootstrap is tor's bootstrap status (GETINFO status/bootstrap-phase).
type Bootstrap struct {
	// Progress is 0..100; 100 means tor is fully bootstrapped.
	Progress int
	// Tag is the phase keyword, e.g. "done" or "conn_pt".
	Tag string
	// Summary is tor's human-readable description.
	Summary string
	// Warning is set when tor reports a problem (severity WARN).
	Warning string
	// Raw is the whole value.
	Raw string
}

// BootstrapPhase returns how far tor has bootstrapped.
func (c *Client) BootstrapPhase(ctx context.Context) (Bootstrap, error) {
	v, err := c.GetInfo(ctx, keyBootstrap)
	if err != nil {
		return Bootstrap{}, err
	}
	return parseBootstrap(v)
}

// parseBootstrap reads "NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"".
func parseBootstrap(v string) (Bootstrap, error) {
	b := Bootstrap{Raw: v}
	args := parseKeywords(v)
	p, ok := args["PROGRESS"]
	if !ok {
		return b, fmt.Errorf("torctl: GETINFO %s: no PROGRESS in %q", keyBootstrap, v)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 100 {
		return b, fmt.Errorf("torctl: GETINFO %s: PROGRESS %q is not 0..100", keyBootstrap, p)
	}
	b.Progress, b.Tag, b.Summary, b.Warning = n, args["TAG"], args["SUMMARY"], args["WARNING"]
	return b, nil
}

// parseKeywords collects KEY=VALUE and KEY="quoted value" arguments from a reply line; quoted
// values may contain spaces and backslash escapes. Positional words are ignored.
func parseKeywords(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexAny(s, "= ")
		if eq < 0 || s[eq] == ' ' {
			// A positional word (or the last one): skip it.
			if eq < 0 {
				break
			}
			s = s[eq:]
			continue
		}
		key, rest := s[:eq], s[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			val, s = b.String(), rest[min(i+1, len(rest)):]
		} else {
			val, s, _ = strings.Cut(rest, " ")
		}
		out[key] = val
	}
	return out
}

// Signal sends SIGNAL name, e.g. "ACTIVE" before a fetch round so tor does not stay dormant.
func (c *Client) Signal(ctx context.Context, name string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) >= 0 {
		return fmt.Errorf("%w: signal %q", ErrInvalidArgument, name)
	}
	_, err := c.request(ctx, "SIGNAL", "SIGNAL %s", name)
	return err
}

// FetchDescriptor asks tor to fetch the descriptor of addr (56 characters, no ".onion") from each
// of servers (relay fingerprints), or from a relay tor picks when servers is empty. It returns once
// tor accepted the command; the results arrive as DescReceived and DescFailed events.
func (c *Client) FetchDescriptor(ctx context.Context, addr string, servers []string) error {
	cmd, err := hsFetchCommand(addr, servers)
	if err != nil {
		return err
	}
	_, err = c.request(ctx, "HSFETCH", "%s", cmd)
	return err
}

// PostDescriptor uploads desc for addr to each of servers (at least one) with HSPOST. It returns
// once tor accepted the command; a ReplyError wrapping ErrUnknownServer (552) or
// ErrInvalidDescriptor (554) says it did not. Per-HSDir results arrive as Uploaded and
// UploadFailed events (the publisher matches them to its uploads). If ctx ends before the reply, tor may
// still carry out the upload.
func (c *Client) PostDescriptor(ctx context.Context, desc []byte, addr string, servers []string) error {
	cmd, err := hsPostCommand(desc, addr, servers)
	if err != nil {
		return err
	}
	// The command goes through "%s": the descriptor is never a format string.
	_, err = c.request(ctx, "HSPOST", "%s", cmd)
	return err
}
