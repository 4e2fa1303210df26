package testnet

import (
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options configure a network. The zero value of every field but Dir is a
// sensible default.
type Options struct {
	// Dir holds every node's directory, testnet.json and env. Required.
	Dir string
	// Authorities and Relays are the numbers of directory authorities and
	// relays (default 3 and 5). Every one of them is voted HSDir.
	Authorities int
	Relays      int
	// Backends is the number of OnionBalance-instance onion services Up starts
	// for Master once the network is ready.
	Backends int
	// Master is the OnionBalance master address the backends serve. When empty
	// and Backends > 0, Up generates a key in Dir/master.
	Master string
	// ManagementTors is the number of obhost management tors (obhostK: a
	// ControlPort, no SocksPort) Up starts once the network is ready.
	ManagementTors int

	// ReadyTimeout bounds the wait for the client to bootstrap and see every
	// HSDir, and for an onion service's tor to bootstrap (default 4 min).
	ReadyTimeout time.Duration
	// NodeStartTimeout bounds the wait for a started process to answer on its
	// control port or HTTP port (default 30 s).
	NodeStartTimeout time.Duration
	// StopTimeout is how long a process gets after SIGTERM before SIGKILL
	// (default 10 s).
	StopTimeout time.Duration

	// TorPath and TorGencertPath override the binaries looked up in PATH.
	TorPath        string
	TorGencertPath string

	// Detach lets tor processes outlive the process that started them (the
	// testnet command). Otherwise every tor gets __OwningControllerProcess set
	// to this process and exits within seconds after it dies, however it dies.
	Detach bool
	// HTTPCommand, when set, runs each onion service's HTTP server as a child
	// process: HTTPCommand + ["-name", NAME, "-listen", ADDR]. Otherwise the
	// servers run inside this process.
	HTTPCommand []string
	// NoMemoryTuning leaves out "NumCPUs 1" and MALLOC_ARENA_MAX=2, which cut
	// the network's resident memory (see README.md).
	NoMemoryTuning bool

	// Logger receives progress messages; nil discards them.
	Logger hclog.Logger
}

func (o Options) withDefaults() Options {
	if o.Authorities == 0 {
		o.Authorities = 3
	}
	if o.Relays == 0 {
		o.Relays = 5
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 4 * time.Minute
	}
	if o.NodeStartTimeout == 0 {
		o.NodeStartTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}
