package socksprobe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/publisher/health"
)

// Prober probes backends through one tor SocksPort. The zero value is not usable: set Addr.
type Prober struct {
	// Addr is the SocksPort, host:port (it must have ExtendedErrors).
	Addr string
	// Rand is the source of the per-probe username and password; nil means crypto/rand. Probes
	// running at once read it concurrently: it must allow that (crypto/rand does).
	Rand io.Reader
	// Clock measures Latency; nil means the real clock.
	Clock clock.Clock
}

// Result is the outcome of one probe.
type Result struct {
	Outcome health.Outcome
	// Latency is the time from the start of the probe to tor's reply (or to the failure).
	Latency time.Duration
	// Detail says why, for logs and status: tor's reply ("0xf2 onion service introduction
	// failed") or the error on this side.
	Detail string
}

// credentialBytes is how many random bytes make the username and, separately, the password (hex
// encoded: 32 characters each).
const credentialBytes = 16

// Probe connects through tor to backend.onion:port and closes the connection as soon as tor replies.
// backend is a v3 onion address without ".onion" (56 base32 characters, either case). ctx bounds the
// whole probe (dial, SOCKS exchange, waiting for the reply).
func (p *Prober) Probe(ctx context.Context, backend string, port int) Result {
	clk := clock.Or(p.Clock)
	start := clk.Now()
	r := p.probe(ctx, backend, port)
	r.Latency = clk.Now().Sub(start)
	return r
}

func proberError(format string, args ...any) Result {
	return Result{Outcome: health.ProberError, Detail: fmt.Sprintf(format, args...)}
}

func (p *Prober) probe(ctx context.Context, backend string, port int) Result {
	if err := checkBackend(backend); err != nil {
		return proberError("%v", err)
	}
	if port < 1 || port > 65535 {
		return proberError("port %d: must be 1 to 65535", port)
	}
	if p.Addr == "" {
		return proberError("no SOCKS address configured")
	}
	user, err := p.credential()
	if err != nil {
		return proberError("random SOCKS username: %v", err)
	}
	pass, err := p.credential()
	if err != nil {
		return proberError("random SOCKS password: %v", err)
	}
	if err := ctx.Err(); err != nil {
		return proberError("not started: %v", err)
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return proberError("dial SOCKS %s: %v", p.Addr, err)
	}
	defer conn.Close()
	// The deadline bounds every read and write; AfterFunc covers a ctx cancelled without one.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := handshake(conn, user, pass); err != nil {
		return proberError("SOCKS %s: %v", p.Addr, ctxCause(ctx, err))
	}
	host := strings.ToLower(backend) + ".onion"
	if _, err := conn.Write(connectRequest(host, port)); err != nil {
		return proberError("SOCKS %s: sending CONNECT: %v", p.Addr, ctxCause(ctx, err))
	}
	// tor accepted the request: from here, no reply in time is the backend's failure to answer.
	rp, err := readReply(conn)
	if err != nil {
		if ended(ctx, err) {
			cause := ctxCause(ctx, err)
			if errors.Is(cause, context.Canceled) {
				// The caller gave up (shutdown), not the backend: no evidence.
				return proberError("SOCKS %s: cancelled while waiting for the reply to CONNECT", p.Addr)
			}
			return Result{Outcome: health.Timeout, Detail: fmt.Sprintf("no SOCKS reply before the probe's deadline (%v)", cause)}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, errTruncated) {
			return proberError("SOCKS %s: closed the connection before replying to CONNECT (%v)", p.Addr, err)
		}
		return proberError("SOCKS %s: reading the reply to CONNECT: %v", p.Addr, err)
	}
	return Result{Outcome: health.FromSOCKS(rp.Code), Detail: health.SOCKSDetail(rp.Code)}
}

// handshake offers only username/password authentication and authenticates with user and pass.
func handshake(conn net.Conn, user, pass string) error {
	if _, err := conn.Write([]byte{socksVersion, 1, methodUserPass}); err != nil {
		return fmt.Errorf("sending the greeting: %w", err)
	}
	var m [2]byte
	if err := readFull(conn, m[:]); err != nil {
		return fmt.Errorf("reading the method choice: %w", err)
	}
	if m[0] != socksVersion {
		return fmt.Errorf("not a SOCKS5 server: method choice has version %#02x", m[0])
	}
	if m[1] != methodUserPass {
		if m[1] == methodNone {
			return errors.New("the server accepts no username/password authentication")
		}
		return fmt.Errorf("the server chose method %#02x, which was not offered", m[1])
	}
	if _, err := conn.Write(authRequest(user, pass)); err != nil {
		return fmt.Errorf("sending the username/password: %w", err)
	}
	if err := readFull(conn, m[:]); err != nil {
		return fmt.Errorf("reading the username/password status: %w", err)
	}
	if m[0] != authVersion || m[1] != 0x00 {
		return fmt.Errorf("username/password refused (version %#02x, status %#02x)", m[0], m[1])
	}
	return nil
}

// ended reports whether err comes from ctx ending (its deadline set on the connection, or the
// AfterFunc that cancels it) rather than from the server.
func ended(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)
}

// ctxCause names ctx's end instead of the connection's deadline error when ctx ended.
func ctxCause(ctx context.Context, err error) error {
	if !ended(ctx, err) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return context.DeadlineExceeded
}

func (p *Prober) credential() (string, error) {
	r := p.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, credentialBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// checkBackend accepts a v3 onion address without ".onion": 56 base32 characters, either case.
func checkBackend(addr string) error {
	if len(addr) != 56 {
		return fmt.Errorf("backend %q: not a v3 onion address (want 56 base32 characters without .onion)", addr)
	}
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return fmt.Errorf("backend %q: not a v3 onion address (byte %d is not base32)", addr, i)
		}
	}
	return nil
}
