package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/obcluster/obcluster/obhost/config"
)

// daemonFlags are the daemon's command-line flags: the Python tool's, plus overrides of config keys.
type daemonFlags struct {
	configPath   string
	ip           string
	port         int
	socket       string
	verbosity    string
	hsVersion    string
	isTestnet    bool
	dataDir      string
	torControl   string
	torPassword  string
	etcdEndpoint string
	nodeName     string
	logJSON      bool
	metrics      string
	getenv       func(string) string
}

func (f *daemonFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	f.getenv = getenv
	cfgDefault := getenv(config.EnvConfig)
	if cfgDefault == "" {
		cfgDefault = "config.yaml"
	}
	sockDefault := getenv(config.EnvControlSock)
	if sockDefault == "" {
		sockDefault = "/var/run/tor/control"
	}
	both := func(short, long string, p *string, def, help string) {
		fs.StringVar(p, short, def, help)
		fs.StringVar(p, long, def, "same as -"+short)
	}
	both("c", "config", &f.configPath, cfgDefault, "config file (env "+config.EnvConfig+")")
	both("i", "ip", &f.ip, "127.0.0.1", "tor control port address")
	fs.IntVar(&f.port, "p", 9051, "tor control port")
	fs.IntVar(&f.port, "port", 9051, "same as -p")
	both("s", "socket", &f.socket, sockDefault, "tor control unix socket, tried before -i/-p (env "+config.EnvControlSock+")")
	both("v", "verbosity", &f.verbosity, "", "log level: trace, debug, info, warning, error (default: env "+config.EnvLogLevel+", else log.level, else info)")
	fs.StringVar(&f.hsVersion, "hs-version", "v3", "onion service version; only v3 is supported")
	fs.BoolVar(&f.isTestnet, "is-testnet", false, "accepted for compatibility; test networks are detected from the consensus")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory for the embedded etcd (config data-dir, default "+config.DefaultDataDir+")")
	fs.StringVar(&f.torControl, "tor-control", "", "tor control address: tcp:HOST:PORT or unix:/path (config tor.control); overrides -i/-p/-s")
	fs.StringVar(&f.torPassword, "tor-password", "", "file holding the tor control password (config tor.password-file)")
	fs.StringVar(&f.etcdEndpoint, "etcd-endpoints", "", "comma-separated etcd endpoints (config cluster.etcd.endpoints); empty: embedded etcd")
	fs.StringVar(&f.nodeName, "node-name", "", "this node's name in the cluster (config cluster.node-name, default the host name)")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines (config log.json)")
	fs.StringVar(&f.metrics, "metrics-listen", "", "serve Prometheus /metrics on this address (config metrics.listen)")
}

// apply overlays the flags that were set on the config. set tells which flags were given explicitly.
func (f *daemonFlags) apply(c *config.Config, set map[string]bool) error {
	if f.hsVersion != "v3" {
		return fmt.Errorf("--hs-version %q: only v3 is supported", f.hsVersion)
	}
	if f.verbosity != "" {
		c.Log.Level = f.verbosity
	} else if v := f.getenv(config.EnvLogLevel); v != "" {
		c.Log.Level = v // below -v, above the config file
	}
	if f.dataDir != "" {
		c.DataDir = f.dataDir
	}
	if f.torPassword != "" {
		c.Tor.PasswordFile = f.torPassword
	}
	if f.etcdEndpoint != "" {
		c.Cluster.Etcd.Endpoints = strings.Split(f.etcdEndpoint, ",")
	}
	if f.nodeName != "" {
		c.Cluster.NodeName = f.nodeName
	}
	if f.logJSON {
		c.Log.JSON = true
	}
	if f.metrics != "" {
		c.Metrics.Listen = f.metrics
	}
	switch {
	case f.torControl != "":
		c.Tor.Control = f.torControl
	case set["i"] || set["ip"] || set["p"] || set["port"]:
		c.Tor.Control = fmt.Sprintf("tcp:%s:%d", f.ip, f.port)
	case set["s"] || set["socket"]:
		c.Tor.Control = "unix:" + f.socket
	}
	return nil
}

// controlCandidates lists the control addresses to try, in the Python tool's order, when neither the
// config nor a flag chose one: the unix socket first, then TCP.
func (f *daemonFlags) controlCandidates(c *config.Config) []string {
	if c.Tor.Control != "" {
		return []string{c.Tor.Control}
	}
	return []string{"unix:" + f.socket, fmt.Sprintf("tcp:%s:%d", f.ip, f.port)}
}
