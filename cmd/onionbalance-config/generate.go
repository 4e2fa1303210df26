package main

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/obcluster/obcluster/cmd/internal/buildinfo"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// Options say what to generate.
type Options struct {
	Output       string // folder to create (or fill, if empty)
	Services     int    // number of public addresses
	Instances    int    // backends per service
	Tag          string // backend folder prefix
	KeyPath      string // import this master key instead of generating one (one service only)
	VirtualPort  int    // HiddenServicePort <virtual-port> <target>
	Target       string
	Cluster      bool   // also write the cluster section and a key-encryption key
	Force        bool   // replace an existing layout
	Control      string // tor control address written in the config and torrc-server
	HSDirPrefix  string // HiddenServiceDir in instance_torrc: <prefix>/<tag>N; empty: the generated folder
	Random       io.Reader
	ServiceKeys  []string // per-service key paths from the interactive mode ("" = generate)
	ServiceTags  []string // per-service tags from the interactive mode
	ServiceCount []int    // per-service instance counts from the interactive mode
	// ClientAuth is the number of authorized clients (restricted discovery) per service; 0: none.
	ClientAuth int
	// ServiceClients are per-service client counts from the interactive mode.
	ServiceClients []int
}

// Result lists what was written, for the summary (never key material).
type Result struct {
	Output   string
	Services []GeneratedService
}

// GeneratedService is one public address and its backends.
type GeneratedService struct {
	Address  string
	KeyFile  string
	Backends []GeneratedBackend
	Clients  []GeneratedClient
}

// GeneratedClient is one authorized client of a service: where its public key (.auth, named by the
// config) and its ClientOnionAuthDir (with the .auth_private) were written.
type GeneratedClient struct {
	Name     string
	AuthFile string
	AuthDir  string
}

// GeneratedBackend is one backend folder.
type GeneratedBackend struct {
	Name    string
	Address string
	Dir     string
}

var errExists = errors.New("already exists")

func (o *Options) validate() error {
	switch {
	case o.Output == "":
		return errors.New("--output is empty")
	case o.Services < 1:
		return fmt.Errorf("-s %d: want at least 1 service", o.Services)
	case o.Instances < 1 || o.Instances > 60:
		return fmt.Errorf("-n %d: want 1..60 backends per service", o.Instances)
	case o.KeyPath != "" && o.Services > 1:
		return fmt.Errorf("--key with -s %d: one key is one onion address; import keys one service at a time", o.Services)
	case o.Tag == "" || strings.ContainsAny(o.Tag, `/\ `):
		return fmt.Errorf("--tag %q: want a simple name such as node", o.Tag)
	case o.ClientAuth < 0 || o.ClientAuth > 1000:
		return fmt.Errorf("--client-auth %d: want 0..1000 authorized clients per service", o.ClientAuth)
	case o.VirtualPort < 1 || o.VirtualPort > 65535:
		return fmt.Errorf("--service-virtual-port %d: want 1..65535", o.VirtualPort)
	}
	if _, _, err := net.SplitHostPort(o.Target); err != nil && !strings.HasPrefix(o.Target, "unix:") {
		return fmt.Errorf("--service-target %q: want HOST:PORT or unix:/path", o.Target)
	}
	return nil
}

// Generate writes the layout into a temporary folder beside Output and moves it into place only when
// everything was written, so a failure leaves nothing half-written.
func Generate(o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.Output)
	if err != nil {
		return nil, err
	}
	if err := checkFree(out, o.Force); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(out), err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary folder beside %s: %w", out, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, err
	}

	res := &Result{Output: out}
	w := &writer{root: tmp, final: out}
	cfg := configFile{}
	for s := 0; s < o.Services; s++ {
		gs, svc, err := o.service(w, s)
		if err != nil {
			return nil, err
		}
		res.Services = append(res.Services, gs)
		cfg.Services = append(cfg.Services, svc)
	}
	if o.Control != "" {
		cfg.Tor = &torSection{Control: o.Control}
	}
	if o.Cluster {
		kek := make([]byte, 32)
		if _, err := io.ReadFull(o.Random, kek); err != nil {
			return nil, fmt.Errorf("generating the key-encryption key: %w", err)
		}
		if err := w.file("master/key-encryption-key", []byte(fmt.Sprintf("%x\n", kek)), 0o600); err != nil {
			return nil, err
		}
		cfg.Cluster = &clusterSection{
			NodeName:             "obhost1",
			KeyEncryptionKeyFile: "key-encryption-key",
			SessionTTL:           "10s",
			Etcd:                 etcdSection{Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/onionbalance"},
		}
	}
	text, err := cfg.marshal()
	if err != nil {
		return nil, err
	}
	if err := w.file("master/config.yaml", text, 0o600); err != nil {
		return nil, err
	}
	if err := w.file("master/torrc-server", torrcServer(o.Control), 0o644); err != nil {
		return nil, err
	}
	if err := w.commit(o.Force); err != nil {
		return nil, err
	}
	return res, nil
}

// service generates (or imports) the master key of service s and its backends.
func (o *Options) service(w *writer, s int) (GeneratedService, serviceEntry, error) {
	keyPath := o.KeyPath
	if s < len(o.ServiceKeys) && o.ServiceKeys[s] != "" {
		keyPath = o.ServiceKeys[s]
	}
	tag, n := o.Tag, o.Instances
	if s < len(o.ServiceTags) && o.ServiceTags[s] != "" {
		tag = o.ServiceTags[s]
	}
	if s < len(o.ServiceCount) && o.ServiceCount[s] > 0 {
		n = o.ServiceCount[s]
	}
	var master *hsv3.IdentityKey
	var keyBytes []byte
	if keyPath != "" {
		data, err := os.ReadFile(keyPath)
		if err != nil {
			return GeneratedService{}, serviceEntry{}, fmt.Errorf("--key: %w", err)
		}
		if master, err = hsv3.ParseIdentityKey(data); err != nil {
			return GeneratedService{}, serviceEntry{}, fmt.Errorf("--key %s: %w", keyPath, err)
		}
		keyBytes = data // imported verbatim, whichever format it is
	} else {
		var err error
		if master, err = hsv3.GenerateIdentityKey(o.Random); err != nil {
			return GeneratedService{}, serviceEntry{}, fmt.Errorf("generating the master key: %w", err)
		}
		if keyBytes, err = master.MarshalPEM(); err != nil {
			return GeneratedService{}, serviceEntry{}, err
		}
	}
	addr := master.Address()
	keyName := addr + ".key"
	if err := w.file("master/"+keyName, keyBytes, 0o600); err != nil {
		return GeneratedService{}, serviceEntry{}, err
	}
	gs := GeneratedService{Address: addr + ".onion", KeyFile: filepath.Join(w.final, "master", keyName)}
	entry := serviceEntry{Key: keyName}
	for i := 1; i <= n; i++ {
		name := tag + strconv.Itoa(i)
		if o.Services > 1 {
			name = fmt.Sprintf("%s%d-%d", tag, s+1, i)
		}
		b, err := o.backend(w, name, addr)
		if err != nil {
			return GeneratedService{}, serviceEntry{}, err
		}
		gs.Backends = append(gs.Backends, b)
		entry.Instances = append(entry.Instances, instanceEntry{Address: b.Address, Name: name})
	}
	clients := o.ClientAuth
	if s < len(o.ServiceClients) {
		clients = o.ServiceClients[s]
	}
	if clients > 0 {
		var err error
		if gs.Clients, entry.AuthorizedClientsDir, err = o.clients(w, addr, clients); err != nil {
			return GeneratedService{}, serviceEntry{}, err
		}
	}
	return gs, entry, nil
}

// backend writes <name>/hs (a ready HiddenServiceDir with ob_config) and <name>/instance_torrc.
func (o *Options) backend(w *writer, name, master string) (GeneratedBackend, error) {
	key, err := hsv3.GenerateIdentityKey(o.Random)
	if err != nil {
		return GeneratedBackend{}, fmt.Errorf("generating the key of %s: %w", name, err)
	}
	hs := name + "/hs"
	if err := w.dir(name, 0o700); err != nil {
		return GeneratedBackend{}, err
	}
	if err := w.dir(hs, 0o700); err != nil {
		return GeneratedBackend{}, err
	}
	if err := key.WriteTorKeyFiles(filepath.Join(w.root, hs)); err != nil {
		return GeneratedBackend{}, fmt.Errorf("writing the keys of %s: %w", name, err)
	}
	obConfig := fmt.Sprintf("MasterOnionAddress %s.onion\n", master)
	if err := w.file(hs+"/ob_config", []byte(obConfig), 0o600); err != nil {
		return GeneratedBackend{}, err
	}
	hsDir := filepath.Join(w.final, hs)
	if o.HSDirPrefix != "" {
		hsDir = filepath.Join(o.HSDirPrefix, name)
	}
	where := "HiddenServiceDir points at the generated folder; on another host, copy " + name +
		"/hs there (owned by the tor user, mode 0700) and change the path."
	if o.HSDirPrefix != "" {
		where = "Copy the folder " + name + "/hs to " + hsDir + " (owned by the tor user, mode 0700) first."
	}
	torrc := fmt.Sprintf(`# Backend %[1]s of %[2]s.onion, generated by onionbalance-config %[3]s.
# Add these lines to the torrc of the tor in front of this backend.
# %[8]s
# Needs tor >= 0.4.4.1; this onion service's own address is %[5]s.onion.
HiddenServiceDir %[4]s
HiddenServicePort %[6]d %[7]s
HiddenServiceOnionBalanceInstance 1
`, name, master, buildinfo.Version(), hsDir, key.Address(), o.VirtualPort, o.Target, where)
	if err := w.file(name+"/instance_torrc", []byte(torrc), 0o644); err != nil {
		return GeneratedBackend{}, err
	}
	return GeneratedBackend{Name: name, Address: key.Address() + ".onion", Dir: filepath.Join(w.final, name)}, nil
}

func torrcServer(control string) []byte {
	line := "ControlPort 127.0.0.1:9051"
	if strings.HasPrefix(control, "unix:") {
		line = "ControlPort " + control + " GroupWritable RelaxDirModeCheck"
	} else if strings.HasPrefix(control, "tcp:") {
		line = "ControlPort " + strings.TrimPrefix(control, "tcp:")
	}
	return []byte(fmt.Sprintf(`# torrc for the tor next to onionbalance (the management tor), generated by onionbalance-config.
# It needs no onion service of its own: onionbalance fetches and uploads descriptors through it.
# For backend health probes onionbalance opens a loopback SocksPort with ExtendedErrors through the
# control port (SETCONF; this file is not changed): keep SocksPort 0. Or replace it with
# "SocksPort 127.0.0.1:9050 ExtendedErrors" and set health.socks: 127.0.0.1:9050 in config.yaml.
SocksPort 0
%s
CookieAuthentication 1
`, line))
}

// checkFree refuses an output that already holds a layout, unless force is set.
func checkFree(out string, force bool) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--output %s: %w", out, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("--output %s %w and is not empty; choose another folder or pass --force to replace it", out, errExists)
	}
	return nil
}

// writer creates files under root (a temporary folder) that will become final.
type writer struct {
	root, final string
}

func (w *writer) dir(rel string, mode os.FileMode) error {
	p := filepath.Join(w.root, rel)
	if err := os.MkdirAll(p, mode); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Join(w.final, rel), err)
	}
	return os.Chmod(p, mode)
}

func (w *writer) file(rel string, data []byte, mode os.FileMode) error {
	p := filepath.Join(w.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(filepath.Join(w.final, rel)), err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(w.final, rel), err)
	}
	return os.Chmod(p, mode)
}

// commit moves the finished layout to its final place. With force, an existing folder is moved aside
// first and removed only after the new one is in place.
func (w *writer) commit(force bool) error {
	old := ""
	if _, err := os.Stat(w.final); err == nil {
		if !force {
			entries, _ := os.ReadDir(w.final)
			if len(entries) > 0 {
				return fmt.Errorf("--output %s %w", w.final, errExists)
			}
		}
		old = w.final + ".old-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if err := os.Rename(w.final, old); err != nil {
			return fmt.Errorf("moving the old %s aside: %w", w.final, err)
		}
	}
	if err := os.Chmod(w.root, 0o755); err != nil {
		return err
	}
	if err := os.Rename(w.root, w.final); err != nil {
		if old != "" {
			_ = os.Rename(old, w.final)
		}
		return fmt.Errorf("moving the new layout to %s: %w", w.final, err)
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// The generated config.yaml: the Python tool's keys, plus the optional sections.
type configFile struct {
	Services []serviceEntry  `yaml:"services"`
	Tor      *torSection     `yaml:"tor,omitempty"`
	Cluster  *clusterSection `yaml:"cluster,omitempty"`
}

type serviceEntry struct {
	Key                  string          `yaml:"key"`
	AuthorizedClientsDir string          `yaml:"authorized-clients-dir,omitempty"`
	Instances            []instanceEntry `yaml:"instances"`
}

type instanceEntry struct {
	Address string `yaml:"address"`
	Name    string `yaml:"name"`
}

type torSection struct {
	Control string `yaml:"control"`
}

type clusterSection struct {
	NodeName             string      `yaml:"node-name"`
	SessionTTL           string      `yaml:"session-ttl"`
	KeyEncryptionKeyFile string      `yaml:"key-encryption-key-file"`
	Etcd                 etcdSection `yaml:"etcd"`
}

type etcdSection struct {
	Endpoints []string `yaml:"endpoints"`
	Prefix    string   `yaml:"prefix"`
}

func (c configFile) marshal() ([]byte, error) {
	var body bytes.Buffer
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding config.yaml: %w", err)
	}
	header := "# Onionbalance Config File\n# Generated by onionbalance-config " + buildinfo.Version() + ". Keys are relative to this file.\n"
	return append([]byte(header), body.Bytes()...), nil
}

// clients writes n client key pairs for the service addr: master/authorized_clients/<addr>/clientK.auth
// (the public keys, the folder the config names) and clients/clientK/<addr>.auth_private (a
// ClientOnionAuthDir for client K; with several services it holds one file per service). It returns
// the folder relative to config.yaml.
func (o *Options) clients(w *writer, addr string, n int) ([]GeneratedClient, string, error) {
	rel := "authorized_clients/" + addr
	for _, d := range []string{"master/authorized_clients", "master/" + rel, "clients"} {
		if err := w.dir(d, 0o700); err != nil {
			return nil, "", err
		}
	}
	var out []GeneratedClient
	for i := 1; i <= n; i++ {
		name := "client" + strconv.Itoa(i)
		k, err := ecdh.X25519().GenerateKey(o.Random)
		if err != nil {
			return nil, "", fmt.Errorf("generating the key of %s: %w", name, err)
		}
		if err := w.dir("clients/"+name, 0o700); err != nil {
			return nil, "", err
		}
		if err := w.file("master/"+rel+"/"+name+hsv3.AuthFileSuffix, hsv3.MarshalAuthorizedClient(k.PublicKey()), 0o600); err != nil {
			return nil, "", err
		}
		if err := w.file("clients/"+name+"/"+addr+hsv3.AuthPrivateFileSuffix, hsv3.MarshalAuthPrivate(addr, k), 0o600); err != nil {
			return nil, "", err
		}
		out = append(out, GeneratedClient{Name: name, AuthFile: filepath.Join(w.final, "master", rel, name+hsv3.AuthFileSuffix),
			AuthDir: filepath.Join(w.final, "clients", name)})
	}
	return out, rel, nil
}
