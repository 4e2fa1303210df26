package obhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher"
)

// serveStatus answers every connection on the unix socket with the status JSON, as the Python tool.
func serveStatus(ctx context.Context, d *Daemon, path string, m *publisher.Manager, log hclog.Logger) error {
	if err := removeStaleSocket(ctx, path); err != nil {
		return fmt.Errorf("status-socket-location %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("status-socket-location %s: %w", path, err)
	}
	d.closers = append(d.closers, func() { _ = ln.Close(); _ = os.Remove(path) })
	go func() { <-ctx.Done(); _ = ln.Close() }()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil {
					log.Error("status socket stopped", "error", err)
				}
				return
			}
			js, err := m.Status().PythonJSON()
			if err == nil {
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = conn.Write(js)
			}
			_ = conn.Close()
		}
	}()
	log.Info("status socket listening", "path", path)
	return nil
}

// errSocketServed means that a live process answers on a socket this daemon was to listen on.
var errSocketServed = errors.New("another running process serves this socket (another onionbalance?)")

// removeStaleSocket removes the socket at path if it is left over from a process that died, and fails
// with errSocketServed if a process still answers on it. Anything that is not a socket is left alone.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil // absent, or not a socket: Listen reports it
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(dctx, "unix", path)
	switch {
	case err == nil:
		_ = conn.Close()
		return errSocketServed
	case errors.Is(err, syscall.ECONNREFUSED): // nobody listens: stale
		return os.Remove(path)
	default: // e.g. another user's socket, or a busy one: not ours to remove
		return fmt.Errorf("socket exists and cannot be checked: %w", err)
	}
}
