package obhost

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
)

// serveStatus answers every connection on the unix socket with the status JSON, as the Python tool.
func serveStatus(ctx context.Context, d *Daemon, path string, m *publisher.Manager, log hclog.Logger) error {
	stale, err := store.CheckSocket(ctx, path)
	if err != nil {
		return fmt.Errorf("status-socket-location: %w", err)
	}
	if stale {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("status-socket-location: %w", err)
		}
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
