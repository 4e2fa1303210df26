package deploytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// entrypointRig runs deploy/docker/obhost-entrypoint.sh with fake tor and onionbalance programs and
// every path under a temporary folder.
type entrypointRig struct {
	t   *testing.T
	dir string
	out string
	cmd *exec.Cmd
	log *os.File
	end chan error
}

func newEntrypointRig(t *testing.T, torMode string, extraEnv ...string) *entrypointRig {
	t.Helper()
	bash := lookTool(t, "bash")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &entrypointRig{t: t, dir: dir, out: filepath.Join(dir, "out"), end: make(chan error, 1)}
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, r.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, role := range []string{"tor", "onionbalance"} {
		script := "#!/bin/sh\n" + fakeRoleEnv + "=" + role + " exec '" + self + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, role), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte("ControlSocket "+filepath.Join(dir, "tor", "control")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kek"), []byte("c2VjcmV0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		fakeOutEnv + "=" + r.out,
		fakeTorModeEnv + "=" + torMode,
		"OB_USER=", "OB_TOR_USER=",
		"OB_RUN_DIR=" + filepath.Join(dir, "run"),
		"OB_TOR_RUN_DIR=" + filepath.Join(dir, "tor"),
		"OB_DATA_DIR=" + filepath.Join(dir, "data"),
		"OB_TORRC=" + torrc,
		"OB_KEK_SECRET=" + filepath.Join(dir, "kek"),
		"OB_TOR_WAIT=2",
	}
	r.cmd = exec.Command(bash, repoFile(t, "deploy/docker/obhost-entrypoint.sh"), "run", "-c", "/etc/onionbalance/config.yaml")
	r.cmd.Env = append(append(cleanEnv(), env...), extraEnv...)
	// A file, not a pipe: the fakes inherit it, and a pipe would keep Wait waiting for them.
	r.log, err = os.Create(filepath.Join(dir, "entrypoint.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.log.Close()
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.end <- r.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-r.end:
		default:
			r.cmd.Process.Kill()
			<-r.end
		}
		r.killFakes()
	})
	return r
}

// cleanEnv is the test's environment without the variables the entrypoint reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ONIONBALANCE_") && !strings.HasPrefix(kv, "OB_") && !strings.HasPrefix(kv, "DEPLOYTEST_") {
			env = append(env, kv)
		}
	}
	return env
}

// killFakes kills the fakes still running after a failed test, by the pids they recorded.
func (r *entrypointRig) killFakes() {
	for _, role := range []string{"tor", "onionbalance"} {
		b, _ := os.ReadFile(filepath.Join(r.out, role+".log"))
		for _, line := range strings.Split(string(b), "\n") {
			var pid int
			if _, err := fmt.Sscanf(line, "pid %d", &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// output returns what the entrypoint printed so far.
func (r *entrypointRig) output() string {
	b, _ := os.ReadFile(r.log.Name())
	return string(b)
}

// waitLog waits until the log of fake role contains want, and returns the log.
func (r *entrypointRig) waitLog(role, want string) string {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(r.out, role+".log"))
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s log never contained %q; it has:\n%s\nentrypoint output:\n%s", role, want, b, r.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitCode waits for the entrypoint to end and returns its exit status.
func (r *entrypointRig) exitCode() int {
	r.t.Helper()
	select {
	case err := <-r.end:
		r.end <- err // for the cleanup
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			r.t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		r.t.Fatalf("the entrypoint did not exit; output:\n%s", r.output())
		return -1
	}
}

func TestEntrypointRunsTorThenDaemonAndForwardsSignals(t *testing.T) {
	r := newEntrypointRig(t, "",
		"ONIONBALANCE_NODE_NAME=obhost2",
		"ONIONBALANCE_ETCD_ENDPOINTS=http://etcd1:2379,http://etcd2:2379",
		"ONIONBALANCE_LOG_LEVEL=debug",
		"ONIONBALANCE_LOG_JSON=1",
		"ONIONBALANCE_METRICS_LISTEN=0.0.0.0:9180",
	)
	r.waitLog("tor", "started")
	obLog := r.waitLog("onionbalance", "args ")
	want := "args run|--node-name|obhost2|--etcd-endpoints|http://etcd1:2379,http://etcd2:2379|-v|debug|--log-json|--metrics-listen|0.0.0.0:9180|-c|/etc/onionbalance/config.yaml"
	if !strings.Contains(obLog, want+"\n") {
		t.Errorf("daemon arguments:\n%s\nwant:\n%s", obLog, want)
	}

	// The key-encryption key was handed over privately.
	fi, err := os.Stat(filepath.Join(r.dir, "run", "key-encryption-key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key-encryption-key mode %v, want 0600", fi.Mode().Perm())
	}

	// SIGHUP reaches the daemon (reload) and nothing stops.
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.waitLog("onionbalance", "signal hangup")

	// SIGTERM stops the daemon first, then tor; the daemon's status is the container's.
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := r.exitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; output:\n%s", code, r.output())
	}
	r.waitLog("onionbalance", "signal terminated")
	r.waitLog("tor", "signal terminated")
}

func TestEntrypointStopsWhenTorDies(t *testing.T) {
	r := newEntrypointRig(t, "exit")
	r.waitLog("onionbalance", "args ")
	if code := r.exitCode(); code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, r.output())
	}
	r.waitLog("onionbalance", "signal terminated")
	if !strings.Contains(r.output(), "tor exited (status 3); stopping onionbalance") {
		t.Errorf("output does not explain the stop:\n%s", r.output())
	}
}

func TestEntrypointGivesUpWithoutControlSocket(t *testing.T) {
	r := newEntrypointRig(t, "mute")
	if code := r.exitCode(); code != 1 {
		t.Errorf("exit status %d, want 1; output:\n%s", code, r.output())
	}
	if !strings.Contains(r.output(), "did not open its control socket") {
		t.Errorf("output does not name the control socket:\n%s", r.output())
	}
	r.waitLog("tor", "signal terminated")
	if _, err := os.Stat(filepath.Join(r.out, "onionbalance.log")); err == nil {
		t.Error("the daemon was started although tor never opened its control socket")
	}
}
