package deploytest

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// verifyTorrc runs `tor --verify-config` on the template rel with its system paths moved under a
// temporary root, and returns tor's output and error.
func verifyTorrc(t *testing.T, rel, root string) (string, error) {
	t.Helper()
	tor := lookTool(t, "tor")
	text := readRepoFile(t, rel)
	text = strings.ReplaceAll(text, "/var/lib/tor", filepath.Join(root, "var/lib/tor"))
	text = strings.ReplaceAll(text, "/run/tor", filepath.Join(root, "run/tor"))
	for _, d := range []string{"var/lib/tor", "run/tor"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	torrc := filepath.Join(root, "torrc")
	defaults := filepath.Join(root, "torrc-defaults") // empty: no system defaults leak in
	if err := os.WriteFile(torrc, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(defaults, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, time.Minute, root, nil, tor, "--verify-config", "-f", torrc, "--defaults-torrc", defaults)
	return r.stdout + r.stderr, r.err
}

// checkVerified fails on a failed verification and on any warning except tor's note about root.
func checkVerified(t *testing.T, rel, out string, err error) {
	t.Helper()
	if err != nil || !strings.Contains(out, "Configuration was valid") {
		t.Fatalf("tor --verify-config %s: %v\n%s", rel, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "[warn]") && !strings.Contains(line, "running Tor as root") {
			t.Errorf("tor --verify-config %s warns: %s", rel, line)
		}
	}
}

func TestTorrcManagementVerifies(t *testing.T) {
	const rel = "deploy/torrc/torrc-management"
	out, err := verifyTorrc(t, rel, t.TempDir())
	checkVerified(t, rel, out, err)
	text := readRepoFile(t, rel)
	for _, line := range []string{"SocksPort 0", "ControlSocket /run/tor/control", "CookieAuthentication 1", "CookieAuthFileGroupReadable 1"} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("%s lacks the line %q", rel, line)
		}
	}
}

func TestTorrcBackendVerifies(t *testing.T) {
	const rel = "deploy/torrc/torrc-backend"
	root := t.TempDir()
	hs := filepath.Join(root, "var/lib/tor/onionbalance-backend")
	if !strings.Contains(readRepoFile(t, rel), "\nHiddenServiceDir /var/lib/tor/onionbalance-backend\n") {
		t.Fatalf("%s: HiddenServiceDir is not /var/lib/tor/onionbalance-backend", rel)
	}
	if err := os.MkdirAll(hs, 0o700); err != nil {
		t.Fatal(err)
	}

	// Without ob_config, HiddenServiceOnionBalanceInstance makes tor refuse the configuration: this
	// proves the template really is in OnionBalance-instance mode.
	out, err := verifyTorrc(t, rel, root)
	if err == nil || !strings.Contains(out, "ob_config") {
		t.Fatalf("tor accepted %s without an ob_config: %v\n%s", rel, err, out)
	}

	master, err := hsv3.GenerateIdentityKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ob := "MasterOnionAddress " + master.Address() + ".onion\n"
	if err := os.WriteFile(filepath.Join(hs, "ob_config"), []byte(ob), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = verifyTorrc(t, rel, root)
	checkVerified(t, rel, out, err)
	if !strings.Contains(out, master.Address()+".onion registered") {
		t.Errorf("tor did not register the master address from ob_config:\n%s", out)
	}
}
