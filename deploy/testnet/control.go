package testnet

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrControl is wrapped by errors tor returns on its control port.
var ErrControl = errors.New("testnet: tor control error")

// controlConn is a minimal tor control-port client: cookie authentication and
// GETINFO, which is all the harness needs. It is not safe for concurrent use.
type controlConn struct {
	addr string
	conn net.Conn
	r    *textproto.Reader
}

// replyLine is one line of a control reply; Data holds the body of a
// "250+key=" data line, dot-unstuffed, lines joined with "\n".
type replyLine struct {
	Code int
	Text string
	Data string
}

// dialControl connects to the control port at addr and authenticates with
// the cookie in cookiePath.
func dialControl(ctx context.Context, addr, cookiePath string) (*controlConn, error) {
	cookie, err := os.ReadFile(cookiePath)
	if err != nil {
		return nil, fmt.Errorf("testnet: control cookie: %w", err)
	}
	if len(cookie) != 32 {
		return nil, fmt.Errorf("testnet: control cookie %s: %d bytes, want 32", cookiePath, len(cookie))
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testnet: control port %s: %w", addr, err)
	}
	c := &controlConn{addr: addr, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	if _, err := c.do(ctx, "AUTHENTICATE", hex.EncodeToString(cookie)); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *controlConn) Close() error {
	return c.conn.Close()
}

// SetConf changes options of the running tor whose control port is addr
// (cookie authentication with the file at cookiePath): settings are SETCONF's
// arguments, e.g. "DisableNetwork=1". Tests use it to cut a tor off the
// network and back.
func SetConf(ctx context.Context, addr, cookiePath, settings string) error {
	c, err := dialControl(ctx, addr, cookiePath)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.do(ctx, "SETCONF", settings); err != nil {
		return fmt.Errorf("%w (SETCONF %s)", err, settings)
	}
	return nil
}

// getInfo returns the value of one GETINFO key.
func (c *controlConn) getInfo(ctx context.Context, key string) (string, error) {
	lines, err := c.do(ctx, "GETINFO", key)
	if err != nil {
		return "", err
	}
	for _, l := range lines {
		value, ok := strings.CutPrefix(l.Text, key+"=")
		if !ok {
			continue
		}
		if l.Data != "" {
			return l.Data, nil
		}
		return value, nil
	}
	return "", fmt.Errorf("%w: %s: GETINFO %s: key missing from reply", ErrControl, c.addr, key)
}

// do sends "verb arg" and reads the whole reply. Errors name the verb only,
// never the argument (AUTHENTICATE's argument is the cookie).
func (c *controlConn) do(ctx context.Context, verb, arg string) ([]replyLine, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("testnet: control port %s: %w", c.addr, err)
	}
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", verb, arg); err != nil {
		return nil, fmt.Errorf("testnet: control port %s: send %s: %w", c.addr, verb, err)
	}
	var lines []replyLine
	for {
		line, err := c.r.ReadLine()
		if err != nil {
			return nil, fmt.Errorf("testnet: control port %s: read %s reply: %w", c.addr, verb, err)
		}
		l, sep, err := parseReplyLine(line)
		if err != nil {
			return nil, fmt.Errorf("testnet: control port %s: %s reply: %w", c.addr, verb, err)
		}
		if sep == '+' {
			data, err := c.r.ReadDotLines()
			if err != nil {
				return nil, fmt.Errorf("testnet: control port %s: read %s data: %w", c.addr, verb, err)
			}
			l.Data = strings.Join(data, "\n")
		}
		lines = append(lines, l)
		if sep == ' ' {
			if l.Code != 250 {
				return nil, fmt.Errorf("%w: %s: %s: %d %s", ErrControl, c.addr, verb, l.Code, l.Text)
			}
			return lines, nil
		}
	}
}

// parseReplyLine splits "250-text" into its code, separator and text.
func parseReplyLine(line string) (replyLine, byte, error) {
	if len(line) < 4 {
		return replyLine{}, 0, fmt.Errorf("short line %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		return replyLine{}, 0, fmt.Errorf("bad status code in %q", line)
	}
	sep := line[3]
	if sep != ' ' && sep != '-' && sep != '+' {
		return replyLine{}, 0, fmt.Errorf("bad separator in %q", line)
	}
	return replyLine{Code: code, Text: line[4:]}, sep, nil
}
