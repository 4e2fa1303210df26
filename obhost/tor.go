package obhost

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/torctl"
)

// connectTor tries the control addresses in order (the Python tool's: unix socket, then TCP) and keeps
// the first that answers and authenticates.
func connectTor(ctx context.Context, d *Daemon, cfg Config, log hclog.Logger) (*torctl.Client, error) {
	controls := cfg.TorControls
	var errs []string
	for _, addr := range controls {
		if p, isUnix := strings.CutPrefix(addr, "unix:"); isUnix && len(controls) > 1 {
			if _, err := os.Stat(p); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
				continue
			}
		}
		tc := torctl.DefaultConfig()
		tc.Address = addr
		tc.PasswordFile = cfg.File.Tor.PasswordFile
		tc.Logger = log
		c, err := torctl.New(tc)
		if err != nil {
			return nil, fmt.Errorf("tor control %s: %w", addr, err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = c.Run(cctx); close(done) }()
		wctx, wcancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		err = c.WaitReady(wctx)
		wcancel()
		if err == nil {
			d.closers = append(d.closers, func() { cancel(); <-done })
			log.Info("connected to tor", "control", addr)
			return c, nil
		}
		cancel()
		<-done
		errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
	}
	return nil, fmt.Errorf("cannot use the tor control port (%s); set tor.control, --tor-control, -s or -i/-p",
		strings.Join(errs, "; "))
}
