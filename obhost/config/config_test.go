package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
)

// The Python tool's generated config, unchanged.
const pythonConfig = `# Onionbalance Config File
services:
- instances:
  - address: dpkhemrbs3oiv2fww5sxs6r2uybczwijzfn2ezy2osaj7iox7kl7nhad.onion
    name: node1
  - address: llxavz3nmilyd5quttyd3dukr7jbkxfipvkffxdbq25ys3c6aje7pfid
    name: node2
  key: master.key
status-socket-location: /run/onionbalance/status.sock
`

func TestParsePythonConfigUnchanged(t *testing.T) {
	c, err := Parse([]byte(pythonConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 1 || len(c.Services[0].Instances) != 2 {
		t.Fatalf("services = %+v", c.Services)
	}
	if got := c.Services[0].Instances[1].Name; got != "node2" {
		t.Errorf("instance name = %q", got)
	}
	if c.StatusSocketLocation != "/run/onionbalance/status.sock" {
		t.Errorf("status socket = %q", c.StatusSocketLocation)
	}
	if err := c.Validate(true); err != nil {
		t.Fatal(err)
	}
	// Defaults.
	if c.Publish.IntroPointsPerBackend != 2 || c.Publish.RefreshInterval.D() != time.Hour ||
		c.Cluster.SessionTTL.D() != 10*time.Second || c.DataDir != DefaultDataDir ||
		c.Cluster.Etcd.Prefix != "/onionbalance" || c.Log.Level != "info" || c.Metrics.Listen != "" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	text := pythonConfig + "tor:\n  password-file: secret/pw\ncluster:\n  key-encryption-key-file: /abs/kek\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "master.key"); c.Services[0].Key != want {
		t.Errorf("key = %q, want %q", c.Services[0].Key, want)
	}
	if want := filepath.Join(dir, "secret/pw"); c.Tor.PasswordFile != want {
		t.Errorf("password-file = %q, want %q", c.Tor.PasswordFile, want)
	}
	if c.Cluster.KeyEncryptionKeyFile != "/abs/kek" {
		t.Errorf("absolute path changed: %q", c.Cluster.KeyEncryptionKeyFile)
	}
}

// Every key of the reference, set to a non-default value, decodes into the right field.
func TestParseEveryKey(t *testing.T) {
	text := `
services:
  - key: k.pem
    intro-points-per-backend: 3
    instances:
      - {address: a, name: n}
status-socket-location: /s
data-dir: /d
tor:
  control: unix:/run/tor/control
  password-file: /pw
cluster:
  node-name: ob1
  session-ttl: 7s
  key-encryption-key-file: /kek
  allow-plaintext-keys: true
  etcd:
    endpoints: [https://127.0.0.1:2379, https://127.0.0.2:2379]
    prefix: /ob
    ca-file: /ca
    cert-file: /cert
    key-file: /key
    username: u
    password-file: /epw
    allow-insecure-password: true
    request-timeout: 3
publish:
  fetch-interval: 30s
  refresh-interval: 20m
  backend-timeout: 15m
  intro-points-per-backend: 4
  max-backends: 12
  concurrency: 3
log:
  level: debug
  json: true
metrics:
  listen: 127.0.0.1:9180
`
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"services[0].key", c.Services[0].Key, "k.pem"},
		{"services[0].intro-points-per-backend", c.IntroPointsPerBackend(0), 3},
		{"status-socket-location", c.StatusSocketLocation, "/s"},
		{"data-dir", c.DataDir, "/d"},
		{"tor.control", c.Tor.Control, "unix:/run/tor/control"},
		{"tor.password-file", c.Tor.PasswordFile, "/pw"},
		{"cluster.node-name", c.Cluster.NodeName, "ob1"},
		{"cluster.session-ttl", c.Cluster.SessionTTL.D(), 7 * time.Second},
		{"cluster.key-encryption-key-file", c.Cluster.KeyEncryptionKeyFile, "/kek"},
		{"cluster.allow-plaintext-keys", c.Cluster.AllowPlaintextKeys, true},
		{"cluster.etcd.endpoints", strings.Join(c.Cluster.Etcd.Endpoints, ","), "https://127.0.0.1:2379,https://127.0.0.2:2379"},
		{"cluster.etcd.prefix", c.Cluster.Etcd.Prefix, "/ob"},
		{"cluster.etcd.ca-file", c.Cluster.Etcd.CAFile, "/ca"},
		{"cluster.etcd.cert-file", c.Cluster.Etcd.CertFile, "/cert"},
		{"cluster.etcd.key-file", c.Cluster.Etcd.KeyFile, "/key"},
		{"cluster.etcd.username", c.Cluster.Etcd.Username, "u"},
		{"cluster.etcd.password-file", c.Cluster.Etcd.PasswordFile, "/epw"},
		{"cluster.etcd.allow-insecure-password", c.Cluster.Etcd.AllowInsecurePassword, true},
		{"cluster.etcd.request-timeout", c.Cluster.Etcd.RequestTimeout.D(), 3 * time.Second},
		{"publish.fetch-interval", c.Publish.FetchInterval.D(), 30 * time.Second},
		{"publish.refresh-interval", c.Publish.RefreshInterval.D(), 20 * time.Minute},
		{"publish.backend-timeout", c.Publish.BackendTimeout.D(), 15 * time.Minute},
		{"publish.intro-points-per-backend", c.Publish.IntroPointsPerBackend, 4},
		{"publish.max-backends", c.Publish.MaxBackends, 12},
		{"publish.concurrency", c.Publish.Concurrency, 3},
		{"log.level", c.Log.Level, "debug"},
		{"log.json", c.Log.JSON, true},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9180"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if err := c.Validate(true); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"services: []\nrefresh_interval: 5\n", []string{"line 2", `"refresh_interval"`}},
		{"services:\n  - key: k\n    instance:\n      - address: a\n", []string{"line 3", `"instance"`, "services[0]"}},
		{"tor:\n  contrl: x\n", []string{"line 2", `"contrl"`, "in tor", "control"}},
		{"cluster:\n  etcd:\n    endpoint: [a]\n", []string{"line 3", `"endpoint"`, "cluster.etcd"}},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.text))
		if err == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: error does not wrap ErrInvalid: %v", tc.text, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.text, err, w)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"":                                     "empty",
		"- a\n- b\n":                           "must be a mapping",
		"tor: [1]\n":                           "tor must be a mapping",
		"services: x\n":                        "services must be a list",
		"cluster:\n  session-ttl: soon\n":      "bad duration",
		"publish:\n  max-backends: many\n":     "cannot unmarshal",
		"services: []\n---\nservices: []\n":    "more than one YAML document",
		"services:\n  - key: [\n":              "did not find",
		"log: {level: info}\nlog: {json: t}\n": "already defined",
	}
	for text, want := range cases {
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", text, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]string{
		"services: []\n":                                      "no services",
		"services:\n  - key: k\n":                             "services[0].instances is empty",
		"services:\n  - instances: [{address: a}]\n":          "services[0].key is empty",
		"services:\n  - key: k\n    instances: [{name: x}]\n": "instances[0].address is empty",
		"cluster: {session-ttl: 2s}\nservices: [{key: k, instances: [{address: a}]}]\n":               "below the minimum 5s",
		"cluster: {etcd: {cert-file: c}}\nservices: [{key: k, instances: [{address: a}]}]\n":          "set together",
		"log: {level: loud}\nservices: [{key: k, instances: [{address: a}]}]\n":                       `log.level "loud"`,
		"metrics: {listen: nope}\nservices: [{key: k, instances: [{address: a}]}]\n":                  "metrics.listen",
		"publish: {intro-points-per-backend: 21}\nservices: [{key: k, instances: [{address: a}]}]\n":  "1..20",
		"publish: {max-backends: 1}\nservices: [{key: k, instances: [{address: a}, {address: b}]}]\n": "more than publish.max-backends",
		"publish: {concurrency: -1}\nservices: [{key: k, instances: [{address: a}]}]\n":               "publish.concurrency = -1, want 1..256",
		"publish: {concurrency: 1000}\nservices: [{key: k, instances: [{address: a}]}]\n":             "publish.concurrency = 1000, want 1..256",
	}
	for text, want := range cases {
		c, err := Parse([]byte(text))
		if err != nil {
			t.Errorf("Parse(%q): %v", text, err)
			continue
		}
		err = c.Validate(true)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) = %v, want error containing %q", text, err, want)
		}
	}
	c, _ := Parse([]byte("cluster: {node-name: a}\n"))
	if err := c.Validate(false); err != nil {
		t.Errorf("cluster node without services: %v", err)
	}
}

// TLS files with an http:// endpoint would silently connect in plaintext; a password over http:// would
// cross the network in clear unless explicitly allowed. Both are refused naming the keys.
func TestValidateEtcdTransport(t *testing.T) {
	const svc = "services: [{key: k, instances: [{address: a}]}]\n"
	cases := []struct {
		text string
		want []string // nil: accepted
	}{
		{"cluster: {etcd: {endpoints: [\"http://x:2379\"], ca-file: /ca}}\n",
			[]string{"cluster.etcd.ca-file is set", `endpoint "http://x:2379" is not https://`, "TLS would be silently dropped", "use https:// endpoints"}},
		{"cluster: {etcd: {endpoints: [\"https://y:2379\", \"http://x:2379\"], ca-file: /ca, cert-file: /c, key-file: /k}}\n",
			[]string{"cluster.etcd.ca-file is set", `"http://x:2379"`}},
		{"cluster: {etcd: {endpoints: [\"http://x:2379\"], username: u, password-file: /pw}}\n",
			[]string{"cluster.etcd.username", `"http://x:2379"`, "cluster.etcd.allow-insecure-password"}},
		{"cluster: {etcd: {endpoints: [\"x:2379\"], username: u, password-file: /pw}}\n",
			[]string{"cluster.etcd.username", `"x:2379"`}},
		{"cluster: {etcd: {endpoints: [\"http://x:2379\"], username: u, password-file: /pw, allow-insecure-password: true}}\n", nil},
		{"cluster: {etcd: {endpoints: [\"https://x:2379\"], username: u, password-file: /pw, ca-file: /ca}}\n", nil},
		{"cluster: {etcd: {endpoints: [\"unix:///run/etcd.sock\"], username: u, password-file: /pw}}\n", nil},
		{"cluster: {etcd: {endpoints: [\"https://x:2379\"], ca-file: /ca}}\n", nil},
	}
	for _, tc := range cases {
		c, err := Parse([]byte(tc.text + svc))
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.text, err)
			continue
		}
		err = c.Validate(true)
		if tc.want == nil {
			if err != nil {
				t.Errorf("Validate(%q): %v", tc.text, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) = %v, want an invalid-configuration error", tc.text, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%q): error %q lacks %q", tc.text, err, w)
			}
		}
	}
}

// An integer number of seconds too large for time.Duration is refused naming the key, instead of
// silently wrapping around to a negative or tiny duration.
func TestIntegerSecondsOverflow(t *testing.T) {
	cases := map[string]string{
		"cluster:\n  session-ttl: 9223372037\n":            "cluster.session-ttl",
		"publish:\n  refresh-interval: 9223372036854775\n": "publish.refresh-interval",
		"cluster:\n  etcd:\n    request-timeout: -5\n":     "cluster.etcd.request-timeout",
	}
	for text, key := range cases {
		c, err := Parse([]byte(text))
		if err == nil {
			t.Errorf("Parse(%q) accepted it: %s", text, c.Cluster.SessionTTL.D())
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key) {
			t.Errorf("Parse(%q) = %v, want an invalid-configuration error naming %s", text, err, key)
		}
	}
	// The largest value that fits is still accepted.
	if c, err := Parse([]byte("publish:\n  refresh-interval: 9223372036\n")); err != nil || c.Publish.RefreshInterval.D() != 9223372036*time.Second {
		t.Errorf("Parse(9223372036 seconds) = %v", err)
	}
}

// The config file and the cluster accept exactly the same session TTLs: a TTL the parser lets through
// never fails later when the election starts.
func TestSessionTTLAgreesWithCluster(t *testing.T) {
	for _, v := range []string{"4s", "5s", "7500ms", "10s", "5001ms", "1h", "30"} {
		c, err := Parse([]byte("services: [{key: k, instances: [{address: a}]}]\ncluster: {session-ttl: " + v + "}\n"))
		if err != nil {
			t.Fatalf("Parse(%s): %v", v, err)
		}
		cfgErr := c.Validate(true)
		ecfg := cluster.DefaultConfig("n")
		ecfg.TTL = c.Cluster.SessionTTL.D()
		clusterErr := ecfg.Validate()
		if (cfgErr == nil) != (clusterErr == nil) {
			t.Errorf("session-ttl %s: config says %v, cluster says %v", v, cfgErr, clusterErr)
		}
		if cfgErr != nil && !strings.Contains(cfgErr.Error(), "cluster.session-ttl") {
			t.Errorf("session-ttl %s: error %q does not name cluster.session-ttl", v, cfgErr)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	c, err := Parse([]byte(pythonConfig))
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyEnv(func(k string) string {
		if k == EnvStatusSocket {
			return "/env.sock"
		}
		return ""
	})
	if c.StatusSocketLocation != "/env.sock" {
		t.Errorf("env did not override: %q", c.StatusSocketLocation)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(pythonConfig))
	f.Add([]byte("tor: {control: x}\ncluster: {etcd: {endpoints: [a]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			_ = c.Validate(true)
		}
	})
}
