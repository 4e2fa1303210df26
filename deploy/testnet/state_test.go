package testnet

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func sampleDescription(dir string) *Description {
	return &Description{
		Version:    DescriptionVersion,
		Dir:        dir,
		Tor:        "/usr/sbin/tor",
		TorVersion: "0.4.9.11",
		Nodes: []Node{
			{Name: "auth1", Role: RoleAuthority, Ports: map[string]int{PortOR: 1, PortDir: 2, PortControl: 3}, PID: 10,
				Args: []string{"/usr/sbin/tor", "-f", dir + "/auth1/torrc"}, Dir: dir + "/auth1", Log: dir + "/auth1/notice.log",
				Fingerprint: "AB", V3Ident: "CD"},
			{Name: "client", Role: RoleClient, Ports: map[string]int{PortSocks: 4, PortControl: 5}, Dir: dir + "/client"},
			{Name: "backend1", Role: RoleOnionService, Onion: "x.onion", OBInstance: true, Master: "m.onion", Target: "backend1-http"},
			{Name: "obhost1", Role: RoleManagement, Ports: map[string]int{PortControl: 6}, Dir: dir + "/obhost1"},
			{Name: "obhost2", Role: RoleManagement, Ports: map[string]int{PortControl: 7}, Dir: dir + "/obhost2"},
		},
		Client:   ClientInfo{Socks: "127.0.0.1:4", Control: "127.0.0.1:5", ControlCookie: dir + "/client/control_auth_cookie"},
		Backends: []string{"backend1"},
		Master:   &MasterInfo{Address: "m.onion"},
	}
}

func TestDescriptionRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := sampleDescription(dir)
	if err := writeDescription(d); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDescription(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
	}
	if nd, ok := got.Node("client"); !ok || nd.ControlAddr() != "127.0.0.1:5" {
		t.Errorf("Node(client) = %+v, %v", nd, ok)
	}
	if auths := got.NodesWithRole(RoleAuthority); len(auths) != 1 || auths[0].Name != "auth1" {
		t.Errorf("NodesWithRole(authority) = %+v", auths)
	}

	d.Version = 99
	if err := writeDescription(d); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDescription(dir); err == nil {
		t.Error("version 99 accepted")
	}
}

func TestWriteEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := sampleDescription(dir)
	if err := writeEnv(d); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// Source the file in a shell and read the variables back.
	script := `. "$1" && printf '%s|%s|%s|%s|%s|%s' "$OB_SOCKS" "$OB_CONTROL" "$OB_CONTROL_COOKIE" "$OB_MASTER" "$OB_TESTNET_DIR" "$OB_MANAGEMENT_CONTROLS"`
	out, err := exec.Command(sh, "-c", script, "sh", filepath.Join(dir, EnvFile)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{"127.0.0.1:4", "127.0.0.1:5", dir + "/client/control_auth_cookie", "m.onion", dir, "127.0.0.1:6 127.0.0.1:7"}, "|")
	if string(out) != want {
		t.Fatalf("sourced env = %q, want %q", out, want)
	}
}

func TestPrepareDirRefusesRunningNetwork(t *testing.T) {
	dir := t.TempDir()
	nd := sleep60(t)
	nd.Dir = filepath.Join(dir, "sleep")
	if err := os.Mkdir(nd.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := startProcess(nd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(context.Background(), c.pid, nil, c.done, time.Second) })
	waitFor(t, func() bool { return processAlive(c.pid, nd.Args) })
	nd.PID = c.pid
	if err := writeDescription(&Description{Version: DescriptionVersion, Dir: dir, Nodes: []Node{nd}}); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(dir, hclog.NewNullLogger()); !errors.Is(err, ErrRunning) {
		t.Fatalf("prepareDir over a running network: %v, want ErrRunning", err)
	}
	if _, err := os.Stat(nd.Dir); err != nil {
		t.Fatalf("node directory touched: %v", err)
	}
}

func TestPrepareDirClearsStoppedNetwork(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "net")
	outside := filepath.Join(parent, "outside")
	inside := filepath.Join(dir, "auth1")
	other := filepath.Join(dir, "notes.txt")
	for _, p := range []string{outside, inside} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(other, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Description{Version: DescriptionVersion, Dir: dir, Nodes: []Node{
		{Name: "auth1", Dir: inside},
		{Name: "evil", Dir: outside}, // a description pointing outside dir must not remove it
		{Name: "root", Dir: dir},
	}}
	if err := writeDescription(d); err != nil {
		t.Fatal(err)
	}
	if err := writeEnv(d); err != nil {
		t.Fatal(err)
	}
	if err := prepareDir(dir, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{inside, filepath.Join(dir, DescriptionFile), filepath.Join(dir, EnvFile)} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", gone, err)
		}
	}
	for _, kept := range []string{outside, other} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s removed: %v", kept, err)
		}
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		path string
		want bool
	}{
		{"/a/b/c", true}, {"/a/b", false}, {"/a/bc", false}, {"/a", false}, {"/a/b/../x", false}, {"/a/b/c/../d", true},
	}
	for _, c := range cases {
		if got := within("/a/b", c.path); got != c.want {
			t.Errorf("within(/a/b, %s) = %v, want %v", c.path, got, c.want)
		}
	}
}
