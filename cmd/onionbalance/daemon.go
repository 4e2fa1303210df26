package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/obcluster/obcluster/cmd/internal/config"
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

	cfg, err := config.Load(f.configPath)
	if err != nil {
		fmt.Fprintln(e.stderr, "onionbalance:", err)
		return exitError
	}
	cfg.ApplyEnv(e.getenv)
	if err := f.apply(cfg, set); err != nil {
		fmt.Fprintln(e.stderr, "onionbalance:", err)
		return exitUsage
	}
	if err := cfg.Validate(len(cfg.Cluster.Etcd.Endpoints) == 0); err != nil {
		fmt.Fprintf(e.stderr, "onionbalance: config %s: %v\n", f.configPath, err)
		return exitError
	}
	_ = ctx
	_ = os.Getpid
	fmt.Fprintln(e.stderr, "onionbalance: the daemon is not wired yet")
	return exitError
}
