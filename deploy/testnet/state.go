package testnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Role says what a node is. New node kinds (an OnionBalance host, etcd) add a Role.
type Role string

// The roles a network starts today.
const (
	RoleAuthority    Role = "authority"     // directory authority (also a relay)
	RoleRelay        Role = "relay"         // relay voted HSDir, Guard and Exit
	RoleClient       Role = "client"        // client with SocksPort and ControlPort
	RoleOnionService Role = "onion-service" // tor hosting one onion service
	RoleHTTP         Role = "http"          // HTTP server answering GET / with its name
	RoleManagement   Role = "management"    // an obhost's tor: ControlPort, no SocksPort
)

// Port names used in Node.Ports.
const (
	PortOR      = "or"
	PortDir     = "dir"
	PortControl = "control"
	PortSocks   = "socks"
	PortHTTP    = "http"
)

// DescriptionFile and EnvFile are the names of the files Up writes in its directory.
const (
	DescriptionFile = "testnet.json"
	EnvFile         = "env"
)

// DescriptionVersion is the format version of testnet.json.
const DescriptionVersion = 1

// Node is one process of the network, as recorded in testnet.json.
type Node struct {
	Name  string         `json:"name"`
	Role  Role           `json:"role"`
	Ports map[string]int `json:"ports,omitempty"`
	// PID is the process id; 0 when stopped. Args is the exact argv that started
	// it: stop and status check /proc/PID/cmdline against it before trusting PID.
	PID       int      `json:"pid"`
	Args      []string `json:"args,omitempty"`
	Env       []string `json:"env,omitempty"`        // added to the harness environment
	InProcess bool     `json:"in_process,omitempty"` // runs inside the process that started the network
	Dir       string   `json:"dir"`                  // node directory (tor DataDirectory for tor nodes)
	Torrc     string   `json:"torrc,omitempty"`
	Log       string   `json:"log"`
	// ControlCookie is tor's control_auth_cookie.
	ControlCookie string `json:"control_cookie,omitempty"`
	Fingerprint   string `json:"fingerprint,omitempty"` // relay identity (relays, authorities)
	V3Ident       string `json:"v3ident,omitempty"`     // authority certificate fingerprint
	// Onion services.
	Onion      string `json:"onion,omitempty"`       // "<56 chars>.onion", read from the hostname file
	ServiceDir string `json:"service_dir,omitempty"` // HiddenServiceDir
	Target     string `json:"target,omitempty"`      // name of the node the service forwards to
	OBInstance bool   `json:"ob_instance,omitempty"` // OnionBalance instance mode
	Master     string `json:"master,omitempty"`      // master address in ob_config
	// HTTP servers.
	Listen string `json:"listen,omitempty"` // host:port
	Answer string `json:"answer,omitempty"` // body of GET /
}

// ControlAddr is the node's control port address, or "" if it has none.
func (n Node) ControlAddr() string {
	if p := n.Ports[PortControl]; p != 0 {
		return loopback(p)
	}
	return ""
}

// ClientInfo is how programs reach the network's client tor.
type ClientInfo struct {
	Socks         string `json:"socks"`
	Control       string `json:"control"`
	ControlCookie string `json:"control_cookie"`
}

// MasterInfo is the OnionBalance master address the backends serve.
type MasterInfo struct {
	Address string `json:"address"`           // "<56 chars>.onion"
	KeyDir  string `json:"key_dir,omitempty"` // set when the harness generated the key
}

// Description is the content of DIR/testnet.json.
type Description struct {
	Version    int         `json:"version"`
	Dir        string      `json:"dir"`
	Tor        string      `json:"tor"`
	TorVersion string      `json:"tor_version"`
	Nodes      []Node      `json:"nodes"`
	Client     ClientInfo  `json:"client"`
	Backends   []string    `json:"backends,omitempty"` // node names, in order
	Master     *MasterInfo `json:"master,omitempty"`
}

// Node returns the node called name.
func (d *Description) Node(name string) (Node, bool) {
	if i := d.index(name); i >= 0 {
		return d.Nodes[i], true
	}
	return Node{}, false
}

func (d *Description) index(name string) int {
	for i := range d.Nodes {
		if d.Nodes[i].Name == name {
			return i
		}
	}
	return -1
}

// put adds n, or replaces the node with the same name.
func (d *Description) put(n Node) {
	if i := d.index(n.Name); i >= 0 {
		d.Nodes[i] = n
		return
	}
	d.Nodes = append(d.Nodes, n)
}

// NodesWithRole returns the nodes with role r, in start order.
func (d *Description) NodesWithRole(r Role) []Node {
	var out []Node
	for _, n := range d.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// ReadDescription reads DIR/testnet.json.
func ReadDescription(dir string) (*Description, error) {
	path := filepath.Join(dir, DescriptionFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("testnet: read description: %w", err)
	}
	var d Description
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("testnet: parse %s: %w", path, err)
	}
	if d.Version != DescriptionVersion {
		return nil, fmt.Errorf("testnet: %s: version %d, want %d", path, d.Version, DescriptionVersion)
	}
	return &d, nil
}

// writeDescription writes d to DIR/testnet.json atomically.
func writeDescription(d *Description) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("testnet: encode description: %w", err)
	}
	return writeFileAtomic(filepath.Join(d.Dir, DescriptionFile), append(b, '\n'), 0o644)
}

// envExports returns the shell exports for d, sorted by name.
func envExports(d *Description) map[string]string {
	env := map[string]string{
		"OB_TESTNET_DIR":    d.Dir,
		"OB_SOCKS":          d.Client.Socks,
		"OB_CONTROL":        d.Client.Control,
		"OB_CONTROL_COOKIE": d.Client.ControlCookie,
	}
	if d.Master != nil {
		env["OB_MASTER"] = d.Master.Address
		if d.Master.KeyDir != "" {
			env["OB_MASTER_KEY_DIR"] = d.Master.KeyDir
		}
	}
	var onions []string
	for _, name := range d.Backends {
		if n, ok := d.Node(name); ok && n.Onion != "" {
			onions = append(onions, n.Onion)
		}
	}
	if len(onions) > 0 {
		env["OB_BACKENDS"] = strings.Join(onions, " ")
	}
	var controls []string
	for _, nd := range d.NodesWithRole(RoleManagement) {
		controls = append(controls, nd.ControlAddr())
	}
	if len(controls) > 0 {
		env["OB_MANAGEMENT_CONTROLS"] = strings.Join(controls, " ")
	}
	return env
}

// writeEnv writes DIR/env: one `export NAME='value'` line per variable.
func writeEnv(d *Description) error {
	env := envExports(d)
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# Written by deploy/testnet. Use: . " + filepath.Join(d.Dir, EnvFile) + "\n")
	for _, k := range names {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
	}
	return writeFileAtomic(filepath.Join(d.Dir, EnvFile), []byte(b.String()), 0o644)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("testnet: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("testnet: rename %s: %w", tmp, err), os.Remove(tmp))
	}
	return nil
}
