package torctltest

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// socksListener is one SOCKS listener of the fake: its address as net/listeners/socks lists it,
// and the real listener behind an "auto" port (nil for a numbered one).
type socksListener struct {
	addr string
	ln   net.Listener
}

func (l socksListener) close() {
	if l.ln != nil {
		l.ln.Close()
	}
}

// SetConf sets an option as if the torrc said so (no values: the default), e.g.
// SetConf("SocksPort", "127.0.0.1:9050 ExtendedErrors"). SocksPort values become listeners as with
// SETCONF. SetConf("DisableNetwork", "1") closes every SOCKS listener as tor does, and SocksPort
// values set meanwhile open none until "0" reopens them all. Other options are only stored, for
// GETCONF.
func (s *Server) SetConf(key string, values ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setConfLocked(key, values)
}

// Conf returns the values GETCONF key answers (nil for the default).
func (s *Server) Conf(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, _ := s.confKey(key)
	return slices.Clone(s.conf[k])
}

// SocksListeners returns the SOCKS listeners, as GETINFO net/listeners/socks lists them.
func (s *Server) SocksListeners() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socksAddrsLocked()
}

// SetConfs returns the arguments of every SETCONF the fake accepted.
func (s *Server) SetConfs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.setConfs)
}

// FailSetConf makes every SETCONF fail with "553 msg" (tor's answer when, e.g., a port cannot be
// bound); "" restores success.
func (s *Server) FailSetConf(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setConfErr = msg
}

// confKey finds an option by name, case-insensitively as tor does.
func (s *Server) confKey(key string) (string, bool) {
	for k := range s.conf {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return key, false
}

func (s *Server) setConfLocked(key string, values []string) error {
	k, ok := s.confKey(key)
	if !ok {
		return fmt.Errorf("Unrecognized option %q", key)
	}
	switch {
	case strings.EqualFold(k, "SocksPort") && !s.netOff:
		if err := s.applySocksLocked(values); err != nil {
			return err
		}
	case strings.EqualFold(k, "DisableNetwork"):
		off := len(values) == 1 && values[0] == "1"
		switch {
		case off && !s.netOff: // tor closes its SOCKS listeners (they reopen when it is set back)
			for _, l := range s.socks {
				l.close()
			}
			s.socks = nil
			s.info["net/listeners/socks"] = ""
		case !off && s.netOff:
			s.netOff = false
			if err := s.applySocksLocked(s.conf["SocksPort"]); err != nil {
				return err
			}
		}
		s.netOff = off
	}
	s.conf[k] = slices.Clone(values)
	return nil
}

// socksWant is one SocksPort value as a listener: host:port, or the host of an "auto" port.
type socksWant struct {
	addr string
	auto bool
}

func (w socksWant) fits(l socksListener) bool {
	if !w.auto {
		return l.addr == w.addr
	}
	h, _, err := net.SplitHostPort(l.addr)
	return err == nil && h == w.addr
}

// applySocksLocked replaces the SOCKS listeners by those of values, matching them as tor 0.4.9
// does (connection.c, retry_listener_ports): each open listener, in tor's connection order, is kept
// for the first value that fits it (the same address and port, or any port on the address of an
// "auto" value), and the values left over get new listeners. tor's connection order is arbitrary;
// the fake takes the newest listener first. tor runs the same matching again on its periodic
// listener check; the fake runs it twice, so that a list in which an "auto" value comes before a
// numbered one loses a listener here as it does in tor a minute later.
func (s *Server) applySocksLocked(values []string) error {
	var wants []socksWant
	if len(values) == 0 {
		values = []string{"9050"} // tor's default
	}
	for _, v := range values {
		f := strings.Fields(v)
		if len(f) == 0 || f[0] == "0" || strings.HasPrefix(strings.ToLower(f[0]), "unix:") {
			continue
		}
		host, port := "127.0.0.1", f[0]
		if strings.Contains(f[0], ":") {
			var err error
			if host, port, err = net.SplitHostPort(f[0]); err != nil {
				return fmt.Errorf("Invalid SocksPort %q", v)
			}
		}
		if strings.EqualFold(port, "auto") {
			wants = append(wants, socksWant{addr: host, auto: true})
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("Invalid SocksPort %q", v)
		}
		wants = append(wants, socksWant{addr: net.JoinHostPort(host, port)})
	}
	for pass := range 2 {
		if err := s.matchSocksLocked(wants, pass == 0); err != nil {
			return err
		}
	}
	s.info["net/listeners/socks"] = quoteList(s.socksAddrsLocked())
	return nil
}

// matchSocksLocked is one matching pass. A new numbered listener whose port is taken by a kept
// listener fails to bind: on the SETCONF that is an error (tor answers 553), on the periodic check
// tor only logs it.
func (s *Server) matchSocksLocked(wants []socksWant, strict bool) error {
	left := slices.Clone(wants)
	var kept []socksListener
	var closing []socksListener
	for i := len(s.socks) - 1; i >= 0; i-- {
		l := s.socks[i]
		j := slices.IndexFunc(left, func(w socksWant) bool { return w.fits(l) })
		if j < 0 {
			closing = append(closing, l)
			continue
		}
		kept = append(kept, l)
		left = slices.Delete(left, j, j+1)
	}
	slices.Reverse(kept)
	var opened []socksListener
	for _, w := range left {
		if !w.auto {
			if slices.ContainsFunc(kept, func(l socksListener) bool { return l.addr == w.addr }) {
				if strict {
					for _, l := range opened {
						l.close()
					}
					return fmt.Errorf("Failed to bind one of the listener ports.")
				}
				continue
			}
			opened = append(opened, socksListener{addr: w.addr})
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(w.addr, "0"))
		if err != nil {
			for _, l := range opened {
				l.close()
			}
			return fmt.Errorf("Failed to bind one of the listener ports.")
		}
		opened = append(opened, socksListener{addr: ln.Addr().String(), ln: ln})
		s.wg.Add(1)
		go func() { // not a SOCKS server: every connection is closed at once
			defer s.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	for _, l := range closing {
		l.close()
	}
	s.socks = append(kept, opened...)
	return nil
}

func (s *Server) socksAddrsLocked() []string {
	addrs := make([]string, len(s.socks))
	for i, l := range s.socks {
		addrs[i] = l.addr
	}
	return addrs
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, a := range l {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

func (c *conn) getConf(args string) error {
	keys := strings.Fields(args)
	if len(keys) == 0 {
		return c.reply("512 Missing argument to GETCONF")
	}
	c.srv.mu.Lock()
	var lines []string
	for _, key := range keys {
		k, ok := c.srv.confKey(key)
		if !ok {
			c.srv.mu.Unlock()
			return c.reply(fmt.Sprintf("552 Unrecognized configuration key %q", key))
		}
		vals := c.srv.conf[k]
		if len(vals) == 0 {
			lines = append(lines, k)
		}
		for _, v := range vals {
			lines = append(lines, k+"="+v)
		}
	}
	c.srv.mu.Unlock()
	for i := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		lines[i] = "250" + sep + lines[i]
	}
	return c.reply(lines...)
}

// setConf applies "SETCONF key=value key="quoted value" key ...": the values of each key replace
// its old ones; a bare key resets it to the default.
func (c *conn) setConf(args string) error {
	pairs, err := parseConfArgs(args)
	if err != nil {
		return c.reply("513 " + err.Error())
	}
	if len(pairs) == 0 {
		return c.reply("512 Missing argument to SETCONF")
	}
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if c.srv.setConfErr != "" {
		return c.reply("553 " + c.srv.setConfErr)
	}
	var order []string
	byKey := map[string][]string{}
	for _, p := range pairs {
		k, ok := c.srv.confKey(p[0])
		if !ok {
			return c.reply(fmt.Sprintf("552 Unrecognized option: Unknown option %q.  Failing.", p[0]))
		}
		if _, seen := byKey[k]; !seen {
			order = append(order, k)
			byKey[k] = nil
		}
		if p[1] != "" {
			byKey[k] = append(byKey[k], p[1])
		}
	}
	for _, k := range order {
		if err := c.srv.setConfLocked(k, byKey[k]); err != nil {
			return c.reply("553 Unable to set option: " + err.Error())
		}
	}
	c.srv.setConfs = append(c.srv.setConfs, args)
	return c.reply("250 OK")
}

// parseConfArgs splits SETCONF arguments into key/value pairs; a value may be quoted with C-style
// escapes.
func parseConfArgs(args string) ([][2]string, error) {
	var out [][2]string
	s := strings.TrimSpace(args)
	for s != "" {
		end := strings.IndexAny(s, "= ")
		if end < 0 {
			out = append(out, [2]string{s, ""})
			break
		}
		key := s[:end]
		if s[end] == ' ' {
			out = append(out, [2]string{key, ""})
			s = strings.TrimLeft(s[end:], " ")
			continue
		}
		rest := s[end+1:]
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
			if i >= len(rest) {
				return nil, fmt.Errorf("Unterminated quoted value for %q", key)
			}
			val, rest = b.String(), rest[i+1:]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		out = append(out, [2]string{key, val})
		s = strings.TrimLeft(rest, " ")
	}
	return out, nil
}
