package torctl

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// The SOCKS listener for health probes.
const (
	// probeSocksEntry is the SocksPort SocksForProbes adds: loopback, a port tor picks, and extended
	// error codes for onion-service failures.
	probeSocksEntry = "127.0.0.1:auto ExtendedErrors"
	keySocksPort    = "SocksPort"
	keySocksListen  = "net/listeners/socks"
)

// SocksForProbes returns the address (host:port) of a loopback SocksPort of tor with ExtendedErrors,
// for health probes. It uses one that tor is configured with when there is one (the operator's,
// or the one an earlier call opened: GETCONF then lists it), and otherwise opens one with SETCONF:
// every SocksPort tor has is kept (a "SocksPort 0" is dropped) and "127.0.0.1:auto ExtendedErrors"
// is added; opened reports that. The new address is the listener that GETINFO net/listeners/socks
// lists after the SETCONF and not before. (When the operator has an "auto" port on 127.0.0.1
// without ExtendedErrors, tor would not say later which of the two listeners is ours, so a port
// that was free on 127.0.0.1 is asked for instead of "auto".) The SETCONF lists the "auto" ports
// after the numbered ones: see autoLast.
//
// A SocksPort qualifies when it listens on a loopback address, has ExtendedErrors and turns off
// neither IsolateSOCKSAuth nor OnionTraffic. A port opened this way lasts until tor restarts or
// reloads its torrc; call SocksForProbes again then (after Reconnected, or when probes cannot
// connect). Calls are serialized: concurrent callers never open two ports.
//
// When a SocksPort that qualifies is configured but tor lists no listener for it (tor closes its
// listeners while DisableNetwork is 1, and opens them again when it is set back), the error wraps
// ErrSocksNotListening and nothing is added: try again later.
func (c *Client) SocksForProbes(ctx context.Context) (addr string, opened bool, err error) {
	select {
	case c.socksLock <- struct{}{}:
		defer func() { <-c.socksLock }()
	case <-ctx.Done():
		return "", false, fmt.Errorf("torctl: SocksForProbes: %w", ctx.Err())
	}
	conf, err := c.GetConf(ctx, keySocksPort)
	if err != nil {
		return "", false, err
	}
	before, err := c.socksListeners(ctx)
	if err != nil {
		return "", false, err
	}
	if a, ok := pickProbeSocks(conf, before); ok {
		return a, false, nil
	}
	if v, ok := closedProbeSocks(conf, before); ok {
		// Another SocksPort would not open either while tor's network is disabled, and each call
		// would add one that tor opens when the network comes back.
		return "", false, fmt.Errorf("%w: SocksPort %q has no listener (GETINFO %s: %q)", ErrSocksNotListening, v, keySocksListen, before)
	}

	keep := keptSocksPorts(conf, before)
	entry := probeSocksEntry
	if autoWithoutExtendedErrors(conf) {
		// An "auto" port of ours could not be told from the operator's later (pickProbeSocks): take
		// a numbered one.
		port, err := freeLoopbackPort()
		if err != nil {
			return "", false, fmt.Errorf("torctl: opening a SOCKS listener for health probes: %w", err)
		}
		entry = "127.0.0.1:" + port + " ExtendedErrors"
	}
	ports := autoLast(append(keep, entry))
	args := make([]string, 0, len(ports))
	for _, e := range ports {
		args = append(args, keySocksPort+"="+quoteConfValue(e))
	}
	if _, err := c.request(ctx, "SETCONF", "SETCONF %s", strings.Join(args, " ")); err != nil {
		return "", false, fmt.Errorf("torctl: opening a SOCKS listener for health probes (SETCONF %s): %w",
			strings.Join(args, " "), err)
	}
	after, err := c.socksListeners(ctx)
	if err != nil {
		return "", false, err
	}
	var fresh []string
	for _, l := range after {
		if !slices.Contains(before, l) {
			if a, ok := loopbackListener(l); ok {
				fresh = append(fresh, a)
			}
		}
	}
	if len(fresh) == 0 && len(after) == 0 {
		return "", false, fmt.Errorf("%w: SETCONF %s opened no listener", ErrSocksNotListening, strings.Join(args, " "))
	}
	if len(fresh) != 1 {
		return "", false, fmt.Errorf("torctl: SETCONF %s: want one new loopback SOCKS listener, GETINFO %s lists %q (before: %q)",
			strings.Join(args, " "), keySocksListen, after, before)
	}
	c.log.Info("opened a SOCKS listener for health probes", "address", fresh[0], "socks_ports", ports)
	return fresh[0], true, nil
}

// GetConf returns the values of a (possibly repeated) option: GETCONF answers "key=value" per
// value, or a bare "key" when the option has its default (then nil is returned).
func (c *Client) GetConf(ctx context.Context, key string) ([]string, error) {
	if !isInfoKey(key) {
		return nil, fmt.Errorf("%w: GETCONF key %q", ErrInvalidArgument, key)
	}
	resp, err := c.request(ctx, "GETCONF", "GETCONF %s", key)
	if err != nil {
		return nil, err
	}
	var vals []string
	for _, line := range resp.DataWithReply() {
		k, v, hasValue := strings.Cut(line, "=")
		if !strings.EqualFold(k, key) {
			return nil, fmt.Errorf("torctl: GETCONF %s: unexpected line %q in the reply", key, line)
		}
		if hasValue {
			vals = append(vals, v)
		}
	}
	return vals, nil
}

// socksListeners returns the SOCKS listeners tor has open, as GETINFO net/listeners/socks lists them
// ("127.0.0.1:9050", "[::1]:9050", "unix:/path").
func (c *Client) socksListeners(ctx context.Context) ([]string, error) {
	v, err := c.GetInfo(ctx, keySocksListen)
	if err != nil {
		return nil, err
	}
	l, err := splitQuoted(v)
	if err != nil {
		return nil, fmt.Errorf("torctl: GETINFO %s: %w", keySocksListen, err)
	}
	return l, nil
}

// socksPort is one SocksPort value, e.g. "127.0.0.1:9050 ExtendedErrors IsolateDestAddr".
type socksPort struct {
	none   bool   // "0": no SOCKS listener
	unix   bool   // unix:path
	host   string // "127.0.0.1", "::1" (no brackets); "" for none and unix
	port   string // a number or "auto"
	usable bool   // loopback, ExtendedErrors, isolation by SOCKS auth and onion traffic not off
}

// parseSocksPort reads a SocksPort value as tor does: the address first ("9050", "auto",
// "host:port", "[v6]:port", "unix:..."), then flags, case-insensitively.
func parseSocksPort(v string) socksPort {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return socksPort{none: true}
	}
	first := fields[0]
	var p socksPort
	switch {
	case first == "0":
		return socksPort{none: true}
	case strings.HasPrefix(strings.ToLower(first), "unix:"):
		return socksPort{unix: true}
	case !strings.Contains(first, ":"):
		p.host, p.port = "127.0.0.1", first // "9050" or "auto": tor's default address
	default:
		h, port, err := net.SplitHostPort(first)
		if err != nil {
			return socksPort{} // not understood: never chosen, never matched
		}
		if strings.EqualFold(h, "localhost") {
			h = "127.0.0.1"
		}
		p.host, p.port = h, port
	}
	if strings.EqualFold(p.port, "auto") {
		p.port = "auto"
	}
	ext, isolate, onion := false, true, true
	for _, f := range fields[1:] {
		switch strings.ToLower(f) {
		case "extendederrors":
			ext = true
		case "isolatesocksauth":
			isolate = true
		case "noisolatesocksauth":
			isolate = false
		case "oniontraffic", "oniontrafficonly":
			onion = true
		case "nooniontraffic":
			onion = false
		}
	}
	p.usable = ext && isolate && onion && isLoopback(p.host)
	return p
}

func isLoopback(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// loopbackListener returns a listener's address in host:port form if it is a TCP loopback one.
func loopbackListener(l string) (string, bool) {
	h, port, err := net.SplitHostPort(l)
	if err != nil || !isLoopback(h) {
		return "", false
	}
	return net.JoinHostPort(h, port), true
}

// pickProbeSocks finds a usable SocksPort among conf (GETCONF values) and its listener among
// listeners. A port with a number is its own listener. Ports tor picked ("auto") are told apart
// from the others only by elimination: the listeners on their address that no numbered port
// claims are theirs, in an order tor does not say; so one is picked only when every "auto" port on
// that address is usable.
func pickProbeSocks(conf, listeners []string) (string, bool) {
	ports := make([]socksPort, 0, len(conf))
	for _, v := range conf {
		ports = append(ports, parseSocksPort(v))
	}
	claimed := map[string]bool{}
	for _, p := range ports {
		if p.host != "" && p.port != "auto" {
			a := net.JoinHostPort(p.host, p.port)
			claimed[a] = true
			if p.usable && slices.Contains(listeners, a) {
				return a, true
			}
		}
	}
	for _, p := range ports {
		if !p.usable || p.port != "auto" {
			continue
		}
		allUsable := true
		for _, q := range ports {
			if q.port == "auto" && q.host == p.host && !q.usable {
				allUsable = false
			}
		}
		if !allUsable {
			continue
		}
		for _, l := range listeners {
			a, ok := loopbackListener(l)
			h, _, _ := net.SplitHostPort(a)
			if ok && !claimed[a] && h == p.host {
				return a, true
			}
		}
	}
	return "", false
}

// closedProbeSocks returns a SocksPort value of conf that qualifies for probes but has no listener
// among listeners: a numbered one whose address is not listed, or an "auto" one with no listener on
// its address that a numbered port does not claim.
func closedProbeSocks(conf, listeners []string) (string, bool) {
	claimed := map[string]bool{}
	for _, v := range conf {
		if p := parseSocksPort(v); p.host != "" && p.port != "auto" {
			claimed[net.JoinHostPort(p.host, p.port)] = true
		}
	}
	for _, v := range conf {
		p := parseSocksPort(v)
		if !p.usable {
			continue
		}
		if p.port != "auto" {
			if !slices.Contains(listeners, net.JoinHostPort(p.host, p.port)) {
				return v, true
			}
			continue
		}
		open := slices.ContainsFunc(listeners, func(l string) bool {
			a, ok := loopbackListener(l)
			h, _, _ := net.SplitHostPort(a)
			return ok && !claimed[a] && h == p.host
		})
		if !open {
			return v, true
		}
	}
	return "", false
}

// autoWithoutExtendedErrors reports whether conf has an "auto" port on 127.0.0.1 that does not
// qualify for probes.
func autoWithoutExtendedErrors(conf []string) bool {
	for _, v := range conf {
		if p := parseSocksPort(v); p.port == "auto" && p.host == "127.0.0.1" && !p.usable {
			return true
		}
	}
	return false
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment ago (tor runs on this host:
// the control port's SocksPort must be reachable on loopback anyway).
func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// keptSocksPorts is the operator's SocksPort list to send back with ours: every value except "0".
// With no value (tor's default) the default listener 127.0.0.1:9050 is kept if it is open.
func keptSocksPorts(conf, listeners []string) []string {
	if len(conf) == 0 {
		if slices.Contains(listeners, "127.0.0.1:9050") {
			return []string{"127.0.0.1:9050"}
		}
		return nil
	}
	var keep []string
	for _, v := range conf {
		if !parseSocksPort(v).none {
			keep = append(keep, v)
		}
	}
	return keep
}

// autoLast moves the "auto" ports after the others, keeping their order otherwise. tor matches
// each open listener to the first configured port that fits it, and an "auto" port fits any
// listener on its address: listed before a numbered port, it takes that port's listener, and tor
// then closes the "auto" port's own listener (seen with tor 0.4.9 on the SETCONF and on its periodic
// listener check a minute later).
func autoLast(ports []string) []string {
	out := make([]string, 0, len(ports))
	for _, auto := range []bool{false, true} {
		for _, v := range ports {
			if (parseSocksPort(v).port == "auto") == auto {
				out = append(out, v)
			}
		}
	}
	return out
}

// quoteConfValue quotes a value for SETCONF: in double quotes, with backslash and quote escaped.
func quoteConfValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}

// splitQuoted splits a GETINFO value made of space-separated, possibly quoted strings (C-style
// escapes inside quotes).
func splitQuoted(v string) ([]string, error) {
	var out []string
	for i := 0; i < len(v); {
		switch {
		case v[i] == ' ':
			i++
		case v[i] == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(v) && v[j] != '"'; j++ {
				if v[j] == '\\' && j+1 < len(v) {
					j++
				}
				b.WriteByte(v[j])
			}
			if j >= len(v) {
				return nil, fmt.Errorf("unterminated quote in %q", v)
			}
			out = append(out, b.String())
			i = j + 1
		default:
			j := strings.IndexByte(v[i:], ' ')
			if j < 0 {
				j = len(v) - i
			}
			out = append(out, v[i:i+j])
			i += j
		}
	}
	return out, nil
}
