package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/cmd/internal/buildinfo"
	"github.com/obcluster/obcluster/internal/procs"
	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/config"
)

func runDaemon(ctx context.Context, args []string, e env) int {
	var f daemonFlags
	fs := newFlagSet("onionbalance", e, "onionbalance [run] [-c config.yaml] [-i IP -p PORT | -s SOCKET] [-v LEVEL]")
	f.register(fs, e.getenv)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.hsVersion != "v3" {
		fmt.Fprintf(e.stderr, "onionbalance: --hs-version %q: only v3 is supported\n", f.hsVersion)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "onionbalance: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}

	load := func() (*config.Config, error) {
		cfg, err := config.Load(f.configPath)
		if err != nil {
			return nil, err
		}
		cfg.ApplyEnv(e.getenv)
		if err := f.apply(cfg, set); err != nil {
			return nil, err
		}
		if err := cfg.Validate(len(cfg.Cluster.Etcd.Endpoints) == 0); err != nil {
			return nil, fmt.Errorf("config %s: %w", f.configPath, err)
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(e.stderr, "onionbalance:", err)
		return exitError
	}
	log := newLogger(cfg.Log, e.stderr)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dc := obhost.DefaultConfig()
	dc.File, dc.TorControls, dc.Version = cfg, f.controlCandidates(cfg), buildinfo.Version()
	dc.Getenv, dc.Logger = e.getenv, log
	// Idle on one P, busy on all (internal/procs), unless $GOMAXPROCS pins the count.
	if e.getenv("GOMAXPROCS") == "" {
		full := runtime.GOMAXPROCS(0)
		gov := procs.New(full)
		defer gov.Stop()
		dc.Publisher.Procs = gov
		log.Debug("GOMAXPROCS: 1 while idle, more while the publisher works", "busy", full)
	}
	d, err := obhost.Start(ctx, dc)
	if err != nil {
		log.Error("start-up failed", "error", err)
		fmt.Fprintln(e.stderr, "onionbalance:", err)
		return exitError
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			d.Stop()
			log.Info("stopped")
			return exitOK
		case err := <-d.Failed():
			log.Error("stopping after a fatal error", "error", err)
			d.Stop()
			return exitError
		case <-hup:
			next, err := load()
			if err != nil {
				log.Error("reload failed; keeping the running configuration", "error", err)
				continue
			}
			log.SetLevel(logLevel(next.Log.Level))
			if err := d.Reload(ctx, next); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("reload failed; keeping the running configuration", "error", err)
			}
		}
	}
}

// newLogger makes the root logger; subsystems take named sub-loggers that share its level, so SIGHUP can
// change the level of all of them.
func newLogger(c config.Log, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "onionbalance",
		Level:      logLevel(c.Level),
		JSONFormat: c.JSON,
		Output:     w,
		TimeFormat: "2006-01-02T15:04:05.000Z0700",
	})
}

func logLevel(s string) hclog.Level {
	switch s {
	case "warning", "WARNING":
		return hclog.Warn
	case "critical", "CRITICAL":
		return hclog.Error
	}
	return hclog.LevelFromString(s)
}
