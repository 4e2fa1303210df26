package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/obcluster/obcluster/cmd/internal/buildinfo"
)

// env is what a command may touch of the outside world; tests pass their own.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand. Run returns the process exit code.
type command struct {
	name    string // e.g. "key show"
	summary string
	run     func(ctx context.Context, args []string, e env) int
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func commands() []command {
	return []command{
		{"run", "run the balancer daemon (the default when no command is given)", runDaemon},
		{"key show", "print the onion address of a key file (tor hs_ed25519_secret_key or PEM)", runKeyShow},
		{"descriptor show", "verify, decrypt and print a descriptor as JSON (--address ADDR FILE)", runDescriptorShow},
		{"status", "show the cluster: leader, nodes, services, backends, uploads per HSDir (--json)", runStatus},
		{"cluster init", "store the services and sealed master keys of a config file in etcd", runClusterInit},
		{"cluster set-config", "replace the services in etcd; running nodes apply it live", runClusterSetConfig},
		{"cluster step-down", "make the leader hand over gracefully to another node", runClusterStepDown},
		{"cluster drill", "kill or pause the leader of a test cluster and measure the takeover", runClusterDrill},
		{"version", "print the version", func(_ context.Context, _ []string, e env) int {
			fmt.Fprintln(e.stdout, "onionbalance", buildinfo.Version())
			return exitOK
		}},
	}
}

func run(ctx context.Context, args []string, e env) int {
	cmds := commands()
	// Longest matching command name wins ("key show" before "key").
	sort.Slice(cmds, func(i, j int) bool { return len(cmds[i].name) > len(cmds[j].name) })
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && equalWords(args[:len(words)], words) {
			return c.run(ctx, args[len(words):], e)
		}
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if args[0] == "help" {
			usage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "onionbalance: unknown command %q (see onionbalance --help)\n", strings.Join(args, " "))
		return exitUsage
	}
	if len(args) == 1 {
		switch args[0] {
		case "-h", "-help", "--help":
			usage(e.stdout)
			return exitOK
		case "-version", "--version":
			fmt.Fprintln(e.stdout, "onionbalance", buildinfo.Version())
			return exitOK
		}
	}
	// Flags only: the Python tool's interface, the daemon.
	return runDaemon(ctx, args, e)
}

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `onionbalance %s: Tor v3 onion-service load balancer, alone or as an HA cluster on etcd

Usage:
  onionbalance [flags]                 run the daemon (flags as the Python OnionBalance: -c, -i, -p, -s, -v)
  onionbalance <command> [flags]

Commands:
`, buildinfo.Version())
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"onionbalance <command> --help\" for the flags of a command.\n")
}

// newFlagSet makes a FlagSet that prints usage to e.stderr and reports errors instead of exiting.
func newFlagSet(name string, e env, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and maps the outcome to an exit code: -1 to go on, else the code to return.
func parseFlags(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return -1
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	default:
		return exitUsage
	}
}
