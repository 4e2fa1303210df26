package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Daemon log messages the tests wait for (cmd/onionbalance, publisher).
const (
	logUploaded      = "uploaded descriptor:" // HSPOST accepted by tor
	logHSDirAccepted = "descriptor uploaded:" // one HSDir accepted it (debug)
	logTorLost       = "tor control connection lost"
	logTorBack       = "tor control connection is back"
	logDataRace      = "WARNING: DATA RACE"
	logTimeLayout    = "2006-01-02T15:04:05.000Z0700" // cmd/onionbalance newLogger
)

// daemonProc is a running onionbalance daemon.
type daemonProc struct {
	p          *proc
	log        string // stdout and stderr: the daemon logs to stderr
	statusSock string
	started    time.Time
}

// startDaemon runs bin -c cfg with its log in dir/daemon.log. On cleanup it
// is stopped with SIGTERM (an error if that takes more than 20 s) and its log
// tail is printed if the test failed.
func startDaemon(t *testing.T, bin, cfg, dir, name string) *daemonProc {
	t.Helper()
	d := &daemonProc{log: filepath.Join(dir, "daemon.log"), statusSock: filepath.Join(dir, "status.sock")}
	d.p = newProc(name+"-daemon", []string{bin, "-c", cfg}, nil, d.log)
	t.Cleanup(func() {
		if err := d.p.stop(20 * time.Second); err != nil {
			t.Errorf("stop the daemon: %v", err)
		}
		if os.Getenv(raceEnv) == "1" && d.logHas(logDataRace) {
			t.Errorf("the daemon log reports a data race; see %s", d.log)
		}
		if t.Failed() {
			t.Logf("%s: last lines of the daemon log:\n%s", name, fileTail(d.log, 60))
		}
	})
	d.started = time.Now()
	if err := d.p.start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// lines returns the daemon's log lines so far.
func (d *daemonProc) lines() []string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func (d *daemonProc) logHas(s string) bool {
	b, err := os.ReadFile(d.log)
	return err == nil && strings.Contains(string(b), s)
}

// waitLine waits until a log line at index from or later contains every one
// of subs, and returns its index and text. It fails at once if the daemon
// exits.
func (d *daemonProc) waitLine(ctx context.Context, within time.Duration, from int, subs ...string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		lines := d.lines()
		for i := from; i < len(lines); i++ {
			if containsAll(lines[i], subs) {
				return i, lines[i], nil
			}
		}
		if !d.p.running() {
			return 0, "", fmt.Errorf("the daemon exited; log:\n%s", fileTail(d.log, 30))
		}
		select {
		case <-ctx.Done():
			return 0, "", fmt.Errorf("no daemon log line with %q within %s", subs, within)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// lineTime returns the time at the start of a daemon log line.
func lineTime(line string) (time.Time, error) {
	stamp, _, _ := strings.Cut(line, " ")
	return time.Parse(logTimeLayout, stamp)
}

// usage returns the daemon's resident memory and CPU time so far.
func (d *daemonProc) usage() (usage, error) {
	return procUsage(d.p.pid())
}

// obStatus is the part of the status socket's JSON the tests read.
type obStatus struct {
	Services []obServiceStatus `json:"services"`
	Leading  bool              `json:"leading"`
}

type obServiceStatus struct {
	OnionAddress string           `json:"onionAddress"`
	First        *string          `json:"publishAttemptFirstDescriptor"`
	Second       *string          `json:"publishAttemptSecondDescriptor"`
	Instances    []map[string]any `json:"instances"`
	Descriptors  []struct {
		Slot     string `json:"slot"`
		Revision uint64 `json:"revision_counter"`
		HSDirs   map[string]struct {
			Status string `json:"status"`
		} `json:"hsdirs"`
	} `json:"descriptors"`
}

// status reads the status socket.
func (d *daemonProc) status(ctx context.Context) (*obStatus, error) {
	var st obStatus
	if err := readStatusSocket(ctx, d.statusSock, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// readStatusSocket decodes the JSON the status socket at path answers into v.
func readStatusSocket(ctx context.Context, path string, v any) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("status socket %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("status socket %s: %w: %q", path, err, raw)
	}
	return nil
}

// serviceStatus reads the status socket and returns the deployment's service; it fails the test when
// the socket does not answer or lists no such service.
func (d *deployment) serviceStatus(ctx context.Context, t testing.TB) *obServiceStatus {
	t.Helper()
	st, err := d.daemon.status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := st.service(d.master)
	if !ok {
		t.Fatalf("status lists no service %s: %+v", d.master, st)
	}
	return svc
}

// service returns the status of the service with the given address.
func (s *obStatus) service(addr string) (*obServiceStatus, bool) {
	for i := range s.Services {
		if s.Services[i].OnionAddress == addr {
			return &s.Services[i], true
		}
	}
	return nil, false
}
