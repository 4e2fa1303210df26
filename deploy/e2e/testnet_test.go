package e2e

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
)

// fetchTimeout bounds the wait for a new onion service to answer: its
// descriptor must reach the HSDirs and the client must fetch it.
const fetchTimeout = 90 * time.Second

func fetchName(t *testing.T, n *testnet.Network, onion string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	body, err := testnet.GetRetry(ctx, n.Client().Socks, "http://"+onion+"/", 30*time.Second)
	if err != nil {
		t.Fatalf("fetch http://%s/ through %s: %v", onion, n.Client().Socks, err)
	}
	return body
}

func TestPlainOnionServiceAnswersThroughClient(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	svc := testnet.StartOnionService(t, n, testnet.OnionServiceConfig{Name: "plain"})
	if svc.OBInstance {
		t.Fatalf("plain service recorded as an OnionBalance instance")
	}
	if got := fetchName(t, n, svc.Onion); got != "plain" {
		t.Fatalf("GET http://%s/ = %q, want %q", svc.Onion, got, "plain")
	}
}

func TestOnionBalanceInstancesAccepted(t *testing.T) {
	t.Parallel()
	n := shared.Network(t)
	master, err := testnet.GenerateMasterKey(filepath.Join(t.TempDir(), "master"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	var insts []testnet.Node
	for _, name := range []string{"obinst1", "obinst2"} {
		insts = append(insts, testnet.StartOnionService(t, n, testnet.OnionServiceConfig{Name: name, Master: master}))
	}
	for _, inst := range insts {
		checkInstance(t, n, inst, master)
	}

	// Each instance still serves its own address.
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Go(func() {
			if got := fetchName(t, n, inst.Onion); got != inst.Name {
				t.Errorf("GET http://%s/ = %q, want %q", inst.Onion, got, inst.Name)
			}
		})
	}
	wg.Wait()

	// A stopped and restarted instance keeps its address and registers again.
	inst := insts[1]
	registrations := strings.Count(readFile(t, inst.Log), registeredLine(master))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := n.StopNode(ctx, inst.Name); err != nil {
		t.Fatalf("stop %s: %v", inst.Name, err)
	}
	if alive(n, inst.Name) {
		t.Fatalf("%s still runs after StopNode", inst.Name)
	}
	if err := n.StartNode(ctx, inst.Name); err != nil {
		t.Fatalf("start %s: %v", inst.Name, err)
	}
	restarted, _ := n.Node(inst.Name)
	if restarted.PID == inst.PID || restarted.Onion != inst.Onion {
		t.Fatalf("restarted %s: pid %d onion %s, want a new pid and onion %s", inst.Name, restarted.PID, restarted.Onion, inst.Onion)
	}
	checkInstance(t, n, restarted, master)
	if got := strings.Count(readFile(t, inst.Log), registeredLine(master)); got <= registrations {
		t.Errorf("%s: no new registration of %s in the log after the restart (%d before, %d after)", inst.Name, master, registrations, got)
	}
}

func registeredLine(master string) string {
	return "OnionBalance: MasterOnionAddress " + master + " registered"
}

// checkInstance asserts tor accepted an OnionBalance instance: the hostname
// file holds the recorded address, the process runs, and the log shows the
// master registered and no error.
func checkInstance(t *testing.T, n *testnet.Network, inst testnet.Node, master string) {
	t.Helper()
	if !inst.OBInstance || inst.Master != master {
		t.Errorf("%s: recorded ob_instance=%v master=%q, want true %q", inst.Name, inst.OBInstance, inst.Master, master)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(inst.ServiceDir, "hostname"))); got != inst.Onion {
		t.Errorf("%s: hostname file has %q, recorded %q", inst.Name, got, inst.Onion)
	}
	if !alive(n, inst.Name) {
		t.Errorf("%s: process not running", inst.Name)
	}
	log := readFile(t, inst.Log)
	if !strings.Contains(log, registeredLine(master)) {
		t.Errorf("%s: log lacks %q", inst.Name, registeredLine(master))
	}
	for line := range strings.Lines(log) {
		if strings.Contains(line, "[err]") || strings.Contains(line, "OnionBalance") && strings.Contains(line, "[warn]") {
			t.Errorf("%s: log: %s", inst.Name, strings.TrimSpace(line))
		}
	}
}

func alive(n *testnet.Network, name string) bool {
	for _, st := range n.Status() {
		if st.Name == name {
			return st.Alive
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
