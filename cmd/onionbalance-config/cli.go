package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/obcluster/obcluster/cmd/internal/buildinfo"
)

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func run(ctx context.Context, args []string, e env) int {
	o := Options{Random: rand.Reader}
	fs := flag.NewFlagSet("onionbalance-config", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	version := fs.Bool("version", false, "print the version")
	fs.IntVar(&o.Instances, "n", 2, "backends (instances) per service")
	fs.IntVar(&o.Services, "s", 1, "number of services (public onion addresses)")
	fs.StringVar(&o.Tag, "t", "node", "name prefix of the backend folders")
	fs.StringVar(&o.Tag, "tag", "node", "same as -t")
	fs.StringVar(&o.Output, "output", "config", "folder to write (refused if it exists and is not empty, unless --force)")
	fs.StringVar(&o.KeyPath, "key", "", "import this master key (tor hs_ed25519_secret_key or PKCS#8 PEM) instead of generating one")
	noInteractive := fs.Bool("no-interactive", false, "never prompt")
	fs.IntVar(&o.VirtualPort, "service-virtual-port", 80, "the onion service port clients connect to (instance_torrc)")
	fs.StringVar(&o.Target, "service-target", "127.0.0.1:80", "where each backend's tor forwards connections (instance_torrc)")
	hsVersion := fs.String("hs-version", "v3", "onion service version; only v3")
	verbosity := fs.String("v", "info", "log level (accepted for compatibility)")
	fs.IntVar(&o.ClientAuth, "client-auth", 0, "restricted discovery: write N authorized client key pairs per service (.auth for the master, .auth_private for the clients' ClientOnionAuthDir)")
	fs.BoolVar(&o.Cluster, "cluster", false, "also write a cluster section and a fresh key-encryption key")
	fs.BoolVar(&o.Force, "force", false, "replace an existing output folder")
	fs.StringVar(&o.Control, "tor-control", "", "tor control address for the config and torrc-server (tcp:HOST:PORT or unix:/path)")
	fs.StringVar(&o.HSDirPrefix, "hs-dir-prefix", "", "HiddenServiceDir in instance_torrc is PREFIX/<backend>; default: the generated folder itself")
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, `onionbalance-config %s: generate the master key, config.yaml and backend folders

Usage: onionbalance-config [flags]        (no flags: interactive)

Writes OUTPUT/master/ (config.yaml, <address>.key, torrc-server) and one OUTPUT/<tag>N/ per backend
(hs/ = a ready HiddenServiceDir with keys, hostname and ob_config; instance_torrc).

Flags:
`, buildinfo.Version())
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(e.stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *version {
		fmt.Fprintln(e.stdout, "onionbalance-config", buildinfo.Version())
		return exitOK
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "onionbalance-config: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *hsVersion != "v3" {
		fmt.Fprintf(e.stderr, "onionbalance-config: --hs-version %q: only v3 is supported\n", *hsVersion)
		return exitUsage
	}
	_ = verbosity
	// Interactive when run with no arguments (or only -v), as the Python tool.
	onlyV := true
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "v" {
			onlyV = false
		}
	})
	if onlyV && !*noInteractive {
		if err := prompt(e, &o); err != nil {
			fmt.Fprintln(e.stderr, "onionbalance-config:", err)
			return exitError
		}
	}
	if ctx.Err() != nil {
		return exitError
	}
	res, err := Generate(o)
	if err != nil {
		fmt.Fprintln(e.stderr, "onionbalance-config:", err)
		return exitError
	}
	summary(e.stdout, res)
	return exitOK
}

// prompt asks the interactive questions; an empty answer keeps the default shown in brackets.
func prompt(e env, o *Options) error {
	in := bufio.NewReader(e.stdin)
	ask := func(q, def string) (string, error) {
		fmt.Fprintf(e.stdout, "%s [%s]: ", q, def)
		line, err := in.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			if errors.Is(err, io.EOF) {
				return "", errors.New("input ended before every question was answered")
			}
			return "", err
		}
		if line = strings.TrimSpace(line); line == "" {
			return def, nil
		}
		return line, nil
	}
	askInt := func(q string, def, lo, hi int) (int, error) {
		for {
			a, err := ask(q, strconv.Itoa(def))
			if err != nil {
				return 0, err
			}
			n, err := strconv.Atoi(a)
			if err == nil && n >= lo && n <= hi {
				return n, nil
			}
			fmt.Fprintf(e.stdout, "Please enter a number from %d to %d.\n", lo, hi)
		}
	}
	var err error
	if o.Output, err = ask("Output folder", o.Output); err != nil {
		return err
	}
	if o.Services, err = askInt("Number of services (public onion addresses)", o.Services, 1, 100); err != nil {
		return err
	}
	for s := 1; s <= o.Services; s++ {
		k, err := ask(fmt.Sprintf("Service %d: path of an existing master key (empty: generate one)", s), "")
		if err != nil {
			return err
		}
		n, err := askInt(fmt.Sprintf("Service %d: number of backends", s), o.Instances, 1, 60)
		if err != nil {
			return err
		}
		tag, err := ask(fmt.Sprintf("Service %d: backend name prefix", s), o.Tag)
		if err != nil {
			return err
		}
		clients, err := askInt(fmt.Sprintf("Service %d: number of authorized clients (0: anyone who knows the address may connect)", s), o.ClientAuth, 0, 1000)
		if err != nil {
			return err
		}
		o.ServiceKeys = append(o.ServiceKeys, k)
		o.ServiceCount = append(o.ServiceCount, n)
		o.ServiceTags = append(o.ServiceTags, tag)
		o.ServiceClients = append(o.ServiceClients, clients)
	}
	return nil
}

func summary(w io.Writer, r *Result) {
	fmt.Fprintf(w, "Wrote %s\n", r.Output)
	for _, s := range r.Services {
		fmt.Fprintf(w, "\nService %s\n  master key: %s (keep it secret; back it up)\n  config:     %s\n",
			s.Address, s.KeyFile, r.Output+"/master/config.yaml")
		for _, b := range s.Backends {
			fmt.Fprintf(w, "  backend %-10s %s  (%s: instance_torrc + hs/)\n", b.Name, b.Address, b.Dir)
		}
	}
	clientDirs := map[string]bool{}
	for _, s := range r.Services {
		if len(s.Clients) > 0 {
			fmt.Fprintf(w, "\nService %s: restricted discovery, %d authorized clients (public keys in %s)\n",
				s.Address, len(s.Clients), filepath.Dir(s.Clients[0].AuthFile))
		}
		for _, c := range s.Clients {
			clientDirs[c.AuthDir] = true
		}
	}
	if len(clientDirs) > 0 {
		dirs := make([]string, 0, len(clientDirs))
		for d := range clientDirs {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		fmt.Fprintf(w, "Give each client its folder (keep it secret) and add to the client's torrc:\n"+
			"  ClientOnionAuthDir <the folder>      e.g. ClientOnionAuthDir %s\n", dirs[0])
		for _, d := range dirs {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	fmt.Fprintf(w, "\nNext: copy each backend folder to its tor host and add its instance_torrc to that torrc;\n"+
		"run onionbalance -c %s/master/config.yaml next to a tor with the control port of master/torrc-server.\n", r.Output)
}
