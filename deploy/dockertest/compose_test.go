package dockertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

const (
	// project is the compose project name: containers obtest_<service>_1, networks obtest_tor and
	// obtest_etcd.
	project = "obtest"
	// socks is the client container's SocksPort (compose.testnet.yaml), reached from this machine.
	socks = "10.77.1.30:9050"
	// ttl is the obhosts' session TTL (deploy/docker/compose-obhost.yaml).
	ttl = 10 * time.Second
)

var (
	obhosts     = []string{"obhost1", "obhost2", "obhost3"}
	etcdMembers = []string{"etcd1", "etcd2", "etcd3"}
	// hostIPs are the obhosts' addresses on the networks tor and etcd, to reconnect them.
	hostIPs = map[string][2]string{
		"obhost1": {"10.77.1.41", "10.77.2.41"},
		"obhost2": {"10.77.1.42", "10.77.2.42"},
		"obhost3": {"10.77.1.43", "10.77.2.43"},
	}
)

// env is one compose deployment on the private network.
type env struct {
	t      *testing.T
	root   string // the repository
	tnDir  string // OB_TESTNET_DIR
	kv     *clientv3.Client
	keys   store.Keys
	master string // the master address, with .onion
	poller *poller
	// revs is the highest revision counter seen per publish record key.
	revs map[string]uint64
}

// TestCompose builds the images, starts docker-compose.yml on the private Tor network with the
// commands of docs/operations.md, waits until the master address answers through the client
// container, runs the drills one after the other (each a subtest; after a failed one the rest are
// skipped), and removes every container, network and volume it made.
func TestCompose(t *testing.T) {
	if os.Getenv("OB_DOCKER") != "1" {
		t.Skip("set OB_DOCKER=1 to build the images and drill the compose deployment (needs root and docker)")
	}
	e := setUp(t)

	drills := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"leader-killed", e.drillKill},
		{"leader-paused", e.drillPause},
		{"leader-cut-from-etcd", func(t *testing.T) { e.drillCut(t, []string{"etcd"}) }},
		{"leader-cut-from-all", func(t *testing.T) { e.drillCut(t, []string{"etcd", "tor"}) }},
		{"etcd-member-lost", e.drillMemberLost},
		{"etcd-quorum-lost", e.drillQuorumLost},
		{"rolling-restart", e.drillRollingRestart},
	}
	broken := ""
	for _, d := range drills {
		t.Run(d.name, func(t *testing.T) {
			if broken != "" {
				t.Skipf("skipped: the earlier drill %s failed", broken)
			}
			t.Logf("==== %s (%s)", d.name, time.Now().UTC().Format("15:04:05"))
			d.run(t)
			e.checkRevisions(t)
		})
		if t.Failed() && broken == "" {
			broken = d.name
		}
	}
	ok, failed := e.poller.total()
	t.Logf("client polling %s every 2 s through the client container: %d answers, %d failures", e.master, ok, failed)
}

// setUp runs the walkthrough: images, keys, private network, etcd, obinit, everything; and registers
// the teardown first, so that every exit path removes what was started.
func setUp(t *testing.T) *env {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "obconfig")); err == nil {
		t.Fatalf("%s exists: the test generates its own keys there (docker-compose.yml mounts ./obconfig); move it away", filepath.Join(root, "obconfig"))
	}
	tnDir := t.TempDir()
	e := &env{t: t, root: root, tnDir: tnDir, revs: map[string]uint64{}}
	t.Cleanup(func() { e.tearDown() })

	begin := time.Now()
	step := func(what string, start time.Time) {
		t.Logf("%s: %v", what, time.Since(start).Round(time.Second))
	}
	s := time.Now()
	e.must(15*time.Minute, "bash", "deploy/docker/base-images.sh")
	step("base images", s)
	s = time.Now()
	e.must(5*time.Minute, "go", "run", "./cmd/onionbalance-config", "--cluster", "-n", "2", "--output", "obconfig")
	e.must(2*time.Minute, "bash", "deploy/docker/testnet.sh", tnDir)
	e.must(20*time.Minute, "docker-compose", "build")
	step("keys, private network files and docker-compose build", s)
	s = time.Now()
	e.must(3*time.Minute, "docker-compose", "up", "-d", "auth1", "auth2", "auth3", "relay1", "relay2", "relay3", "relay4", "client")
	e.must(3*time.Minute, "docker-compose", "up", "-d", "etcd1", "etcd2", "etcd3")
	e.retry(2*time.Minute, "docker-compose", "run", "--rm", "obinit")
	e.must(3*time.Minute, "docker-compose", "up", "-d")
	step("docker-compose up", s)

	kv, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://10.77.2.11:2379", "http://10.77.2.12:2379", "http://10.77.2.13:2379"},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(), // a drill makes members unreachable on purpose
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { kv.Close() })
	e.kv = kv
	e.keys, err = store.NewKeys("/onionbalance")
	if err != nil {
		t.Fatal(err)
	}
	// onionbalance-config names the master key file after the address: obconfig/master/<address>.key.
	keyFiles, _ := filepath.Glob(filepath.Join(root, "obconfig", "master", "*.key"))
	if len(keyFiles) != 1 {
		t.Fatalf("obconfig/master: want one <address>.key, found %v", keyFiles)
	}
	e.master = strings.TrimSuffix(filepath.Base(keyFiles[0]), ".key")
	if !strings.HasSuffix(e.master, ".onion") {
		e.master += ".onion"
	}

	s = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	body, err := testnet.GetRetry(ctx, socks, "http://"+e.master+"/", 60*time.Second)
	if err != nil {
		for _, svc := range []string{"obhost1", "obhost2", "obhost3", "backend1", "client"} {
			t.Logf("logs of %s:\n%s", svc, e.logsTail(svc, 30))
		}
		t.Fatalf("the master address %s did not answer through the client container within 10 min: %v", e.master, err)
	}
	step("master address answering ("+strings.TrimSpace(body)+")", s)

	// The walkthrough's watching commands (-T: no terminal here).
	status := e.must(time.Minute, "docker-compose", "exec", "-T", "obhost1", "sh", "-c",
		`onionbalance status --etcd-endpoints "$ONIONBALANCE_ETCD_ENDPOINTS"`)
	if !strings.Contains(status, "Leader:") || !strings.Contains(status, strings.TrimSuffix(e.master, ".onion")) {
		t.Fatalf("onionbalance status in obhost1 shows no leader or not the service %s:\n%s", e.master, status)
	}
	keys := e.must(time.Minute, "docker-compose", "exec", "-T", "etcd1", "etcdctl", "get", "--prefix", "/onionbalance/", "--keys-only")
	if !strings.Contains(keys, "/onionbalance/config") || !strings.Contains(keys, "/published/") {
		t.Fatalf("etcdctl in etcd1 lists no config or publish record:\n%s", keys)
	}
	t.Logf("set-up took %v", time.Since(begin).Round(time.Second))
	e.checkRevisions(t)
	e.poller = startPoller(t, "http://"+e.master+"/")
	return e
}

// tearDown removes every container, network and volume of the project, the generated keys and the
// private network's files. It runs on every exit path (t.Cleanup).
func (e *env) tearDown() {
	if e.t.Failed() {
		for _, svc := range append(append([]string{}, obhosts...), "etcd1") {
			e.t.Logf("logs of %s:\n%s", svc, e.logsTail(svc, 40))
		}
	}
	if out, err := e.run(3*time.Minute, "docker-compose", "--profile", "init", "down", "-v", "--remove-orphans", "-t", "10"); err != nil {
		e.t.Errorf("docker-compose down: %v\n%s", err, out)
	}
	// Left-overs would be a bug: say so.
	out, _ := e.run(time.Minute, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project)
	if strings.TrimSpace(out) != "" {
		e.t.Errorf("containers left after docker-compose down: %s", out)
	}
	out, _ = e.run(time.Minute, "docker", "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+project)
	if strings.TrimSpace(out) != "" {
		e.t.Errorf("networks left after docker-compose down: %s", out)
	}
	out, _ = e.run(time.Minute, "docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+project)
	if strings.TrimSpace(out) != "" {
		e.t.Errorf("volumes left after docker-compose down: %s", out)
	}
	if err := os.RemoveAll(filepath.Join(e.root, "obconfig")); err != nil {
		e.t.Errorf("removing obconfig: %v", err)
	}
}

// run runs a command in the repository with the compose environment, bounded by d.
func (e *env) run(d time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(),
		"COMPOSE_FILE=docker-compose.yml:deploy/docker/compose.testnet.yaml",
		"COMPOSE_PROJECT_NAME="+project,
		"OB_TESTNET_DIR="+e.tnDir,
	)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// must runs a command and fails the test if it fails.
func (e *env) must(d time.Duration, name string, args ...string) string {
	e.t.Helper()
	out, err := e.run(d, name, args...)
	if err != nil {
		e.t.Fatalf("%v\n%s", err, lastLines(out, 30))
	}
	return out
}

// retry runs a command every 2 s until it succeeds, for at most d.
func (e *env) retry(d time.Duration, name string, args ...string) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, err := e.run(time.Minute, name, args...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%v (retried for %v)\n%s", err, d, lastLines(out, 30))
		}
		time.Sleep(2 * time.Second)
	}
}

// container returns the id of a service's container.
func (e *env) container(t *testing.T, svc string) string {
	t.Helper()
	out, err := e.run(time.Minute, "docker-compose", "ps", "-q", svc)
	id := strings.TrimSpace(out)
	if err != nil || id == "" {
		t.Fatalf("no container for %s: %v %s", svc, err, out)
	}
	return id
}

func (e *env) logsTail(svc string, n int) string {
	out, _ := e.run(time.Minute, "docker-compose", "logs", "--no-color", "--tail", fmt.Sprint(n), svc)
	return out
}

// uploadsSince counts the "uploaded descriptor" lines svc's daemon logged at or after t0 (docker's
// own timestamps: a line a paused container logs after docker unpause carries the time after).
func (e *env) uploadsSince(t *testing.T, svc string, t0 time.Time) int {
	t.Helper()
	out, err := e.run(time.Minute, "docker", "logs", "--since", t0.UTC().Format(time.RFC3339Nano), e.container(t, svc))
	if err != nil {
		t.Fatalf("docker logs %s: %v", svc, err)
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "uploaded descriptor") {
			n++
		}
	}
	return n
}

// leader returns the current leader, polling for at most d.
func (e *env) leader(t *testing.T, d time.Duration) cluster.Candidate {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := cluster.Leader(ctx, e.kv, e.keys)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader within %v: %v", d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishes returns the publish records by key.
func (e *env) publishes(ctx context.Context) (map[string]record.Publish, error) {
	resp, err := e.kv.Get(ctx, e.keys.Services(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", e.keys.Services(), err)
	}
	out := map[string]record.Publish{}
	for _, kv := range resp.Kvs {
		if _, _, ok := e.keys.ParsePublished(string(kv.Key)); !ok {
			continue
		}
		var p record.Publish
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out[string(kv.Key)] = p
	}
	return out, nil
}

// takeover is what etcd showed after a cut at t0: a leader of an epoch other than old, and its
// first publish record.
type takeover struct {
	leader    cluster.Candidate
	elected   time.Duration
	published time.Duration
}

// waitTakeover waits (at most d from t0) until a leader other than old's epoch leads and has written a
// publish record of its epoch.
func (e *env) waitTakeover(t *testing.T, old cluster.Candidate, t0 time.Time, d time.Duration) takeover {
	t.Helper()
	tk, ok := e.pollLeaderPublishing(t0, d, func(c cluster.Candidate) bool { return c.Epoch != old.Epoch }, time.Time{})
	if !ok {
		t.Fatalf("no takeover from %s (epoch %d) within %v (elected after %v)", old.Name, old.Epoch, d, tk.elected)
	}
	return tk
}

// pollLeaderPublishing polls etcd (every 100 ms, at most d from t0) until a leader that accept takes
// has a publish record of its epoch uploaded after since (zero: any).
func (e *env) pollLeaderPublishing(t0 time.Time, d time.Duration, accept func(cluster.Candidate) bool, since time.Time) (takeover, bool) {
	var tk takeover
	deadline := t0.Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := cluster.Leader(ctx, e.kv, e.keys)
		if err == nil && accept(c) {
			if tk.elected == 0 {
				tk.leader, tk.elected = c, time.Since(t0)
			}
			if pubs, perr := e.publishes(ctx); perr == nil {
				for _, p := range pubs {
					if p.Epoch == c.Epoch && (since.IsZero() || p.UploadedAt.After(since)) {
						tk.published = time.Since(t0)
					}
				}
			}
		}
		cancel()
		if tk.published > 0 {
			return tk, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tk, false
}

// waitCandidate waits (at most d) until node campaigns with an election key newer than after (a new
// campaign after a restart or a lost lease; 0: any), and returns that key's revision.
func (e *env) waitCandidate(t *testing.T, node string, after int64, d time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		cands, err := cluster.Candidates(ctx, e.kv, e.keys)
		cancel()
		for _, c := range cands {
			if c.Name == node && c.Epoch > after {
				return c.Epoch
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not campaign again (election key newer than revision %d) within %v (%v)", node, after, d, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// candidateEpoch returns the revision of node's election key, 0 if it has none.
func (e *env) candidateEpoch(t *testing.T, node string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cands, err := cluster.Candidates(ctx, e.kv, e.keys)
	if err != nil {
		t.Fatalf("election candidates: %v", err)
	}
	for _, c := range cands {
		if c.Name == node {
			return c.Epoch
		}
	}
	return 0
}

// checkRevisions fails when a publish record's revision counter went down since the last check.
func (e *env) checkRevisions(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pubs map[string]record.Publish
	var err error
	for { // etcd may be electing a leader right after a drill
		pubs, err = e.publishes(ctx)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("reading the publish records: %v", err)
	}
	for k, p := range pubs {
		if prev, ok := e.revs[k]; ok && p.RevisionCounter < prev {
			t.Errorf("revision counter of %s went down: %d after %d", k, p.RevisionCounter, prev)
		}
		e.revs[k] = max(e.revs[k], p.RevisionCounter)
	}
}

// report logs a drill's figures in one line; fenced < 0: the old leader cannot upload (killed).
func (e *env) report(t *testing.T, drill string, old cluster.Candidate, t0 time.Time, tk takeover, fenced int) {
	t.Helper()
	failed, total := e.poller.failuresSince(t0)
	fencedText := fmt.Sprint(fenced)
	if fenced < 0 {
		fencedText = "n/a (its container is dead)"
	}
	t.Logf("DRILL %s: leader %s -> %s (epoch %d); elected after %v, published after %v; client requests failed %d of %d; uploads by the fenced leader %s",
		drill, old.Name, tk.leader.Name, tk.leader.Epoch, tk.elected.Round(10*time.Millisecond), tk.published.Round(10*time.Millisecond), failed, total, fencedText)
	if fenced > 0 {
		t.Errorf("%s: the fenced leader uploaded %d time(s) after it lost the leadership", drill, fenced)
	}
}

// drillKill kills the leader's container (docker kill: SIGKILL to everything in it) three times.
func (e *env) drillKill(t *testing.T) {
	for i := 1; i <= 3; i++ {
		old := e.leader(t, 30*time.Second)
		id := e.container(t, old.Name)
		t0 := time.Now()
		if out, err := e.run(time.Minute, "docker", "kill", id); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		tk := e.waitTakeover(t, old, t0, 2*time.Minute)
		e.report(t, fmt.Sprintf("leader-killed#%d", i), old, t0, tk, -1)
		e.must(2*time.Minute, "docker-compose", "up", "-d", old.Name)
		e.waitCandidate(t, old.Name, old.Epoch, 3*time.Minute)
	}
}

// drillPause freezes the leader (docker pause) for 2 TTLs, then thaws it: it must not upload once
// thawed, as another node leads by then.
func (e *env) drillPause(t *testing.T) {
	old := e.leader(t, 30*time.Second)
	id := e.container(t, old.Name)
	t0 := time.Now()
	if out, err := e.run(time.Minute, "docker", "pause", id); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	unpaused := false
	defer func() {
		if !unpaused {
			e.run(time.Minute, "docker", "unpause", id)
		}
	}()
	tk := e.waitTakeover(t, old, t0, 2*time.Minute)
	if rest := 2*ttl - time.Since(t0); rest > 0 {
		time.Sleep(rest)
	}
	resumed := time.Now()
	if out, err := e.run(time.Minute, "docker", "unpause", id); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	unpaused = true
	e.waitCandidate(t, old.Name, old.Epoch, 2*time.Minute)
	time.Sleep(ttl) // room for a stray upload to show
	e.report(t, fmt.Sprintf("leader-paused(%v)", resumed.Sub(t0).Round(time.Second)), old, t0, tk, e.uploadsSince(t, old.Name, resumed))
}

// drillCut disconnects the leader from the given networks ("etcd": etcd only, the split brain
// case, as it still reaches the Tor network; "etcd", "tor": everything) for 3 TTLs, then reconnects it.
func (e *env) drillCut(t *testing.T, nets []string) {
	old := e.leader(t, 30*time.Second)
	id := e.container(t, old.Name)
	t0 := time.Now()
	for _, n := range nets {
		if out, err := e.run(time.Minute, "docker", "network", "disconnect", project+"_"+n, id); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	reconnect := func() {
		for _, n := range nets {
			ip := hostIPs[old.Name][0]
			if n == "etcd" {
				ip = hostIPs[old.Name][1]
			}
			if out, err := e.run(time.Minute, "docker", "network", "connect", "--ip", ip, project+"_"+n, id); err != nil {
				t.Errorf("reconnecting %s to %s: %v %s", old.Name, n, err, out)
			}
		}
	}
	connected := false
	defer func() {
		if !connected {
			reconnect()
		}
	}()
	tk := e.waitTakeover(t, old, t0, 2*time.Minute)
	if rest := 3*ttl - time.Since(t0); rest > 0 {
		time.Sleep(rest)
	}
	// Uploads after the new leader was elected: the old one must have stopped by then.
	fenced := e.uploadsSince(t, old.Name, t0.Add(tk.elected))
	connected = true
	reconnect()
	e.waitCandidate(t, old.Name, old.Epoch, 3*time.Minute)
	e.report(t, "leader-cut-from-"+strings.Join(nets, "+"), old, t0, tk, fenced)
}

// drillMemberLost kills one etcd member (the one the leader lists first) for 3 TTLs: the leader must
// keep its lease alive through the other two (or, if it lost it, another node must take over and
// publish), every obhost must keep campaigning; then the member is started again.
func (e *env) drillMemberLost(t *testing.T) {
	old := e.leader(t, 30*time.Second)
	member := "etcd" + strings.TrimPrefix(old.Name, "obhost")
	t0 := time.Now()
	e.must(time.Minute, "docker", "kill", e.container(t, member))
	time.Sleep(3 * ttl)
	now := e.leader(t, time.Minute)
	outcome := "kept the leadership (its lease stayed alive through the other members)"
	if now.Epoch != old.Epoch {
		tk := e.waitTakeover(t, old, t0, 2*time.Minute)
		now = tk.leader
		outcome = fmt.Sprintf("lost the leadership: %s elected after %v, published after %v",
			tk.leader.Name, tk.elected.Round(10*time.Millisecond), tk.published.Round(10*time.Millisecond))
	}
	for _, h := range obhosts {
		e.waitCandidate(t, h, 0, time.Minute)
	}
	failed, total := e.poller.failuresSince(t0)
	t.Logf("DRILL etcd-member-lost(%s, %v): leader %s (epoch %d) %s; client requests failed %d of %d",
		member, time.Since(t0).Round(time.Second), old.Name, old.Epoch, outcome, failed, total)
	e.must(2*time.Minute, "docker-compose", "up", "-d", member)
	e.waitHealthy(t, 2*time.Minute)
}

// drillQuorumLost kills two of the three etcd members for 3 TTLs: nobody may upload once the
// leader's lease can have expired; then starts them again and measures until a leader publishes.
func (e *env) drillQuorumLost(t *testing.T) {
	old := e.leader(t, 30*time.Second)
	t0 := time.Now()
	lost := []string{"etcd2", "etcd3"}
	for _, m := range lost {
		e.must(time.Minute, "docker", "kill", e.container(t, m))
	}
	time.Sleep(3 * ttl)
	fenced := 0
	for _, h := range obhosts {
		fenced += e.uploadsSince(t, h, t0.Add(ttl))
	}
	back := time.Now()
	e.must(2*time.Minute, "docker-compose", "up", "-d", lost[0], lost[1])
	tk := e.waitTakeoverOrRepublish(t, back, 3*time.Minute)
	failed, total := e.poller.failuresSince(t0)
	t.Logf("DRILL etcd-quorum-lost(%v): leader %s (epoch %d) -> %s (epoch %d); after quorum back: elected after %v, published after %v; client requests failed %d of %d; uploads without quorum (from TTL after the cut) %d",
		back.Sub(t0).Round(time.Second), old.Name, old.Epoch, tk.leader.Name, tk.leader.Epoch, tk.elected.Round(10*time.Millisecond), tk.published.Round(10*time.Millisecond), failed, total, fenced)
	if fenced != 0 {
		t.Errorf("obhosts uploaded %d time(s) while etcd had no quorum", fenced)
	}
	e.waitHealthy(t, 2*time.Minute)
}

// waitTakeoverOrRepublish waits until a leader has written a publish record after t0 (a new
// leadership, or the old one if it survived): what a quorum loss ends with.
func (e *env) waitTakeoverOrRepublish(t *testing.T, t0 time.Time, d time.Duration) takeover {
	t.Helper()
	tk, ok := e.pollLeaderPublishing(t0, d, func(cluster.Candidate) bool { return true }, t0)
	if !ok {
		t.Fatalf("no leader published within %v after etcd's quorum came back (leader seen after %v)", d, tk.elected)
	}
	return tk
}

// waitPublishAfter waits until some publish record was uploaded at or after t0.
func (e *env) waitPublishAfter(t *testing.T, t0 time.Time, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pubs, err := e.publishes(ctx)
		cancel()
		for _, p := range pubs {
			if !p.UploadedAt.Before(t0.Add(-time.Second)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no descriptor published within %v (%v)", d, err)
		}
		time.Sleep(time.Second)
	}
}

// waitHealthy waits until all three obhosts campaign and a leader exists.
func (e *env) waitHealthy(t *testing.T, d time.Duration) {
	t.Helper()
	for _, h := range obhosts {
		e.waitCandidate(t, h, 0, d)
	}
	e.leader(t, d)
}

// drillRollingRestart restarts every obhost one after the other (docker-compose restart: SIGTERM,
// a leader resigns), waiting each time for it to campaign again and for a leader that publishes.
func (e *env) drillRollingRestart(t *testing.T) {
	t0 := time.Now()
	for _, h := range obhosts {
		before := e.leader(t, 30*time.Second)
		mine := e.candidateEpoch(t, h)
		s := time.Now()
		e.must(2*time.Minute, "docker-compose", "restart", "-t", "30", h)
		if before.Name == h {
			tk := e.waitTakeover(t, before, s, 2*time.Minute)
			e.report(t, "rolling-restart("+h+", leader)", before, s, tk, e.uploadsSince(t, h, s.Add(tk.elected)))
		}
		e.waitCandidate(t, h, mine, 3*time.Minute)
		t.Logf("rolling restart: %s back after %v", h, time.Since(s).Round(time.Second))
	}
	e.waitPublishAfter(t, t0, 2*time.Minute)
	failed, total := e.poller.failuresSince(t0)
	t.Logf("DRILL rolling-restart: 3 obhosts in %v; client requests failed %d of %d", time.Since(t0).Round(time.Second), failed, total)
}

// poller fetches the master address through the client container every 2 s.
type poller struct {
	mu    sync.Mutex
	polls []poll
	stop  context.CancelFunc
	done  chan struct{}
}

type poll struct {
	at  time.Time
	err error
}

func startPoller(t *testing.T, url string) *poller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &poller{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			start := time.Now()
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			body, err := testnet.Get(rctx, socks, url)
			rcancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil && !strings.HasPrefix(body, "backend ") {
				err = fmt.Errorf("unexpected answer %q", body)
			}
			if err != nil {
				t.Logf("client poll %s failed: %v", start.UTC().Format("15:04:05"), err)
			}
			p.mu.Lock()
			p.polls = append(p.polls, poll{at: start, err: err})
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(start.Add(2 * time.Second))):
			}
		}
	}()
	t.Cleanup(func() {
		p.stop()
		<-p.done
	})
	return p
}

// failuresSince returns the failed and all polls started at or after t0.
func (p *poller) failuresSince(t0 time.Time) (failed, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, q := range p.polls {
		if q.at.Before(t0) {
			continue
		}
		total++
		if q.err != nil {
			failed++
		}
	}
	return failed, total
}

func (p *poller) total() (ok, failed int) {
	f, n := p.failuresSince(time.Time{})
	return n - f, f
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
