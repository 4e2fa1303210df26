package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// clTTL is the session TTL of the obhosts: the minimum, so that failovers are quick.
const clTTL = 5 * time.Second

// clKills is how many times the leader is killed to measure failover.
const clKills = 5

// clCluster is 3 obhosts (each with its own tor) on a 3-member etcd, balancing one master address
// over two backends of the shared test network.
type clCluster struct {
	t       *testing.T
	n       *testnet.Network
	dir     string
	bin     string
	etcd    *storetest.Cluster
	eps     string // the etcd client URLs, comma-joined (the harness's own access, never proxied)
	kv      *clientv3.Client
	keys    store.Keys
	master  string // without .onion
	keyFile string
	hosts   []*clHost
	uploads *clUploads
	client  *torControl // the network's client tor, to fetch descriptors back
	hsdirs  []string
	poller  *clPoller
	broken  string // the first drill that failed: the later ones are skipped
	// backends are the onion services of the network the master balances.
	backends []testnet.Node
}

// clOptions vary the cluster clSetUpWith builds.
type clOptions struct {
	// Backends names the backends to start (default clb1 and clb2).
	Backends []string
	// HostConfig is YAML appended to every obhost's config file (e.g. a health section).
	HostConfig string
}

// TestCluster runs the HA drills one after the other on one cluster: one leader, graceful
// step-down, kill -9 (measured), SIGSTOP, partition from etcd, an etcd member down, etcd quorum
// lost and back, while a client polls the master address every second.
//
// Each drill is a subtest (TestCluster/one-leader, /step-down, /kill, /sigstop, /partition,
// /etcd-member-down, /etcd-quorum-lost), so -run can select some: they run in this order on the
// same cluster, each expecting the cluster healthy with one leader, and once one fails the
// following ones are skipped.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster drills take several minutes")
	}
	c := clSetUp(t)

	c.phase("one-leader", "exactly one leader", c.checkOneLeader)
	c.phase("step-down", "graceful step-down", c.checkStepDown)
	c.phase("kill", fmt.Sprintf("kill -9 of the leader, %d times", clKills), c.checkKills)
	c.phase("sigstop", "SIGSTOP of the leader for longer than the TTL", c.checkPause)
	c.phase("partition", "leader cut off from etcd", c.checkPartition)
	c.phase("etcd-member-down", "one etcd member down", c.checkMemberDown)
	c.phase("etcd-quorum-lost", "etcd quorum lost and back", c.checkQuorumLost)

	ok, failures := c.poller.results()
	t.Logf("client polling %s.onion every second: %d answers, %d failures", c.master, ok, len(failures))
	for _, f := range failures {
		t.Errorf("client poll failed: %s", f)
	}
}

// phase runs one drill as the subtest name, with c.t set to the subtest's T. The drills build on
// each other: after a failed one the rest are skipped.
func (c *clCluster) phase(name, what string, drill func()) {
	parent := c.t
	ok := parent.Run(name, func(t *testing.T) {
		if c.broken != "" {
			t.Skipf("skipped: the earlier drill %s failed", c.broken)
		}
		c.t = t
		defer func() { c.t = parent }()
		t.Logf("==== %s (%s)", what, time.Now().Format("15:04:05.000"))
		drill()
	})
	if !ok && c.broken == "" {
		c.broken = name
	}
}

func clSetUp(t *testing.T) *clCluster {
	return clSetUpWith(t, clOptions{})
}

// clSetUpWith starts the cluster of opts and waits until the master address answers.
func clSetUpWith(t *testing.T, opts clOptions) *clCluster {
	if len(opts.Backends) == 0 {
		opts.Backends = []string{"clb1", "clb2"}
	}
	dir, err := os.MkdirTemp("", "obcluster-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept %s (logs of the obhosts and their tors) for inspection", dir)
			return
		}
		os.RemoveAll(dir)
	})
	built := make(chan string, 1)
	buildErr := make(chan error, 1)
	go func() { // build while the network starts
		bin, err := clBuild(dir)
		built <- bin
		buildErr <- err
	}()
	n := shared.Network(t)
	c := &clCluster{t: t, n: n, dir: dir, bin: <-built, uploads: &clUploads{}}
	if err := <-buildErr; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range c.hosts {
				t.Logf("last lines of %s's log:\n%s", h.name, h.logTail(40))
			}
		}
	})

	masterAddr, err := testnet.GenerateMasterKey(filepath.Join(dir, "master"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.master = strings.TrimSuffix(masterAddr, ".onion")
	c.keyFile = filepath.Join(dir, "master", "hs_ed25519_secret_key")
	var backends []testnet.Node
	answers := map[string]bool{}
	for _, name := range opts.Backends {
		backends = append(backends, testnet.StartOnionService(t, n, testnet.OnionServiceConfig{Name: name, Master: masterAddr}))
		answers[name] = true
	}
	c.backends = backends

	c.etcd = storetest.StartCluster(t, 3)
	c.eps = strings.Join(c.etcd.Endpoints(), ",")
	c.kv = storetest.NewClient(t, c.etcd.Endpoints()...)
	c.keys, _ = store.NewKeys(store.DefaultPrefix)

	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	kekFile := filepath.Join(dir, "key-encryption-key")
	if err := store.WriteKEKFile(kekFile, kek); err != nil {
		t.Fatal(err)
	}
	var op strings.Builder
	fmt.Fprintf(&op, "services:\n  - key: %s\n    instances:\n", c.keyFile)
	for _, b := range backends {
		fmt.Fprintf(&op, "      - address: %s\n        name: %s\n", b.Onion, b.Name)
	}
	fmt.Fprintf(&op, "cluster:\n  key-encryption-key-file: %s\n  etcd:\n    endpoints: [%s]\n", kekFile, c.eps)
	opConfig := filepath.Join(dir, "operator.yaml")
	if err := os.WriteFile(opConfig, []byte(op.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.run("cluster", "init", "-c", opConfig)
	t.Logf("cluster init: %s", strings.TrimSpace(out))

	// Three obhosts; their tors bootstrap concurrently.
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("ob%d", i)
		h := &clHost{name: name, dir: filepath.Join(dir, name), bin: c.bin, logPath: filepath.Join(dir, name, "onionbalance.log")}
		h.tor = clStartTor(t, n, filepath.Join(h.dir, "tor"))
		var eps []string
		for _, ep := range c.etcd.Endpoints() {
			p := clStartProxy(t, strings.TrimPrefix(ep, "http://"))
			h.proxies = append(h.proxies, p)
			eps = append(eps, "http://"+p.Addr())
		}
		h.config = filepath.Join(h.dir, "config.yaml")
		cfg := fmt.Sprintf(`data-dir: %s
tor:
  control: tcp:%s
cluster:
  node-name: %s
  session-ttl: %s
  key-encryption-key-file: %s
  etcd:
    endpoints: [%s]
publish:
  fetch-interval: 15s
  refresh-interval: 15s
log:
  level: debug
`, filepath.Join(h.dir, "data"), h.tor.control, name, clTTL, kekFile, strings.Join(eps, ", "))
		cfg += opts.HostConfig
		if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.hosts = append(c.hosts, h)
	}
	for _, h := range c.hosts {
		ctl := clControl(t, h.tor.control)
		clWaitBootstrapped(t, ctl, h.name+"'s tor")
		c.uploads.watch(t, ctl, h.name, c.master)
		h.start(t)
		t.Cleanup(h.stop)
	}

	c.client = dialTorControl(t, n.Client().Control)
	for _, nd := range n.Description().Nodes {
		if nd.Fingerprint != "" {
			c.hsdirs = append(c.hsdirs, nd.Fingerprint)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	body, err := testnet.GetRetry(ctx, n.Client().Socks, "http://"+masterAddr+"/", 30*time.Second)
	if err != nil || !answers[body] {
		t.Fatalf("the master address never answered (%q): %v", body, err)
	}
	t.Logf("master %s answers (%q) %v after the obhosts started", masterAddr, body, time.Since(start).Round(time.Millisecond))
	c.poller = clStartPoller(t, n.Client().Socks, "http://"+masterAddr+"/", answers)
	return c
}

// clBuild builds the daemon binary (see clBuildBinary) without a *testing.T, for a goroutine.
func clBuild(dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "onionbalance")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/onionbalance")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/onionbalance: %v\n%s", err, out)
	}
	return bin, nil
}

// run runs the onionbalance binary with args and returns its stdout; a failure fails the test.
func (c *clCluster) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("onionbalance %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func (c *clCluster) host(name string) *clHost {
	for _, h := range c.hosts {
		if h.name == name {
			return h
		}
	}
	c.t.Fatalf("no obhost %q", name)
	return nil
}

// leader returns the current leader's name and epoch from etcd ("" when none).
func (c *clCluster) leader() (string, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := c.kv.Get(ctx, c.keys.Election()+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return "", 0
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].CreateRevision
}

// nodes returns the heartbeat records by name.
func (c *clCluster) nodes() map[string]record.Node {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	recs, err := store.New(c.kv, c.keys, nil, 3*time.Second).Nodes(ctx)
	out := map[string]record.Node{}
	if err != nil {
		return out
	}
	for _, r := range recs {
		out[r.Name] = r
	}
	return out
}

// published returns the master's publish records.
func (c *clCluster) published() map[string]record.Publish {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	recs, err := store.New(c.kv, c.keys, nil, 3*time.Second).PublishedAll(ctx, c.master)
	if err != nil {
		return nil
	}
	return recs
}

// publishAfter returns a publish record of an epoch after epoch, or uploaded after t0.
func (c *clCluster) publishAfter(epoch int64, t0 time.Time) (record.Publish, bool) {
	for _, r := range c.published() {
		if r.Epoch > epoch && (t0.IsZero() || r.UploadedAt.After(t0)) {
			return r, true
		}
	}
	return record.Publish{}, false
}

// waitFollower waits until node's heartbeat, written after t0, says follower.
func (c *clCluster) waitFollower(node string, t0 time.Time, d time.Duration) {
	c.t.Helper()
	clPoll(c.t, d, node+" back as follower", func() bool {
		r, ok := c.nodes()[node]
		return ok && r.Heartbeat.After(t0) && r.Role == record.RoleFollower
	})
}

func (c *clCluster) checkOneLeader() {
	t := c.t
	clPoll(t, time.Minute, "3 live nodes with tor bootstrapped and one leader", func() bool {
		nodes := c.nodes()
		leaders := 0
		for _, r := range nodes {
			if r.TorBootstrap != 100 {
				return false
			}
			if r.Role == record.RoleLeader {
				leaders++
			}
		}
		name, _ := c.leader()
		return len(nodes) == 3 && leaders == 1 && nodes[name].Role == record.RoleLeader
	})
	var st struct {
		Leader *struct {
			Name  string `json:"name"`
			Epoch int64  `json:"epoch"`
		} `json:"leader"`
		Candidates []json.RawMessage `json:"candidates"`
		Nodes      []struct {
			Name string `json:"name"`
			Role string `json:"role"`
		} `json:"nodes"`
		Services []struct {
			Address     string            `json:"address"`
			Key         string            `json:"key"`
			Backends    []json.RawMessage `json:"backends"`
			Descriptors []json.RawMessage `json:"descriptors"`
		} `json:"services"`
	}
	out := c.run("status", "--json", "--etcd-endpoints", c.eps)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	name, epoch := c.leader()
	leaders := 0
	for _, n := range st.Nodes {
		if n.Role == record.RoleLeader {
			leaders++
		}
	}
	if st.Leader == nil || st.Leader.Name != name || st.Leader.Epoch != epoch || len(st.Candidates) != 3 || len(st.Nodes) != 3 || leaders != 1 {
		t.Errorf("status: leader %+v (etcd: %s %d), %d candidates, nodes %+v", st.Leader, name, epoch, len(st.Candidates), st.Nodes)
	}
	if len(st.Services) != 1 || st.Services[0].Address != c.master || st.Services[0].Key != "sealed" ||
		len(st.Services[0].Backends) != 2 || len(st.Services[0].Descriptors) == 0 {
		t.Errorf("status services: %+v", st.Services)
	}
	text := c.run("status", "--etcd-endpoints", c.eps)
	key, err := os.ReadFile(c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.hosts {
		text += h.logSince(t, 0)
	}
	if strings.Contains(text, base64.StdEncoding.EncodeToString(key[32:])) || strings.Contains(text, fmt.Sprintf("%x", key[32:])) {
		t.Error("the master key appears in the status output or a log")
	}
	t.Logf("leader %s (epoch %d); status:\n%s", name, epoch, c.run("status", "--etcd-endpoints", c.eps))
}

func (c *clCluster) checkStepDown() {
	t := c.t
	old, oldEpoch := c.leader()
	asked := time.Now() // the old leader's record says follower from a write after this
	out := c.run("cluster", "step-down", "--etcd-endpoints", c.eps)
	t.Logf("cluster step-down: %s", strings.TrimSpace(out))
	next, epoch := c.leader()
	if next == old || epoch <= oldEpoch {
		t.Fatalf("after step-down the leader is %s (epoch %d), was %s (epoch %d)", next, epoch, old, oldEpoch)
	}
	clPoll(t, 15*time.Second, "the new leader's takeover publication", func() bool {
		r, ok := c.publishAfter(oldEpoch, time.Time{})
		return ok && r.Node == next
	})
	c.waitFollower(old, asked, 15*time.Second)
}

// clDrillReport mirrors the JSON of `onionbalance cluster drill --json`.
type clDrillReport struct {
	Mode      string `json:"mode"`
	OldLeader struct {
		Name  string `json:"name"`
		Epoch int64  `json:"epoch"`
	} `json:"old_leader"`
	PID       int       `json:"pid"`
	SignalAt  time.Time `json:"signal_at"`
	NewLeader struct {
		Name  string `json:"name"`
		Epoch int64  `json:"epoch"`
	} `json:"new_leader"`
	ElectedAfter    time.Duration `json:"elected_after_ns"`
	PublishedAfter  time.Duration `json:"published_after_ns"`
	PublishedBy     string        `json:"published_by"`
	RevisionCounter uint64        `json:"revision_counter"`
	ResumedAfter    time.Duration `json:"resumed_after_ns"`
	RejoinedAfter   time.Duration `json:"rejoined_after_ns"`
}

func (c *clCluster) drill(args ...string) clDrillReport {
	c.t.Helper()
	pids := map[string]int{}
	for _, h := range c.hosts {
		if pid := h.pid(); pid != 0 {
			pids[h.name] = pid
		}
	}
	state := filepath.Join(c.dir, "drill-state.json")
	clWriteJSON(c.t, state, map[string]any{"pids": pids})
	out := c.run(append([]string{"cluster", "drill", "--json", "--state", state, "--etcd-endpoints", c.eps}, args...)...)
	var rep clDrillReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		c.t.Fatalf("cluster drill output: %v\n%s", err, out)
	}
	return rep
}

// revisionHistory follows the revision counters the HSDirs serve, per blinded key.
type revisionHistory struct {
	mu     sync.Mutex
	last   map[string]map[string]uint64 // blinded -> HSDir -> highest revision it served
	max    map[string]uint64            // blinded -> highest revision served after the last leader's check
	chains map[string][]string          // blinded -> leaders whose descriptor raised the maximum, in order
}

// longest returns the longest chain of successive leaders under one blinded key.
func (h *revisionHistory) longest() []string {
	var out []string
	for _, c := range h.chains {
		if len(c) > len(out) {
			out = c
		}
	}
	return out
}

// check fetches the descriptors back and asserts that no HSDir went backwards and that the maximum
// grew since the previous check, now that leader has published.
func (c *clCluster) checkRevisions(h *revisionHistory, leader string) {
	t := c.t
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last, h.max, h.chains = map[string]map[string]uint64{}, map[string]uint64{}, map[string][]string{}
	}
	// Uploads to some HSDirs may still be under way, and at a time-period boundary the client may
	// ask for a blinded key not uploaded yet: fetch again a few times before concluding.
	for try := 1; ; try++ {
		blinded, revs := clFetchRevisions(t, c.client, c.master, c.hsdirs)
		if h.last[blinded] == nil {
			h.last[blinded] = map[string]uint64{}
		}
		var curMax uint64
		for fp, r := range revs {
			if p, ok := h.last[blinded][fp]; ok && r < p {
				t.Errorf("HSDir %s went back from revision %d to %d after %s published", fp, p, r, leader)
			}
			h.last[blinded][fp] = max(r, h.last[blinded][fp])
			curMax = max(curMax, r)
		}
		prevMax := h.max[blinded]
		switch {
		case len(revs) > 0 && prevMax == 0:
			t.Logf("HSDirs serve revision %d (blinded key %s…, %d HSDirs) after %s published", curMax, blinded[:8], len(revs), leader)
		case len(revs) > 0 && curMax > prevMax:
			t.Logf("HSDirs serve revision %d > %d after %s published", curMax, prevMax, leader)
		case try < 5:
			time.Sleep(4 * time.Second)
			continue
		case len(revs) == 0:
			t.Errorf("no HSDir served the descriptor after %s published", leader)
			return
		default:
			t.Errorf("after %s published, the HSDirs' highest revision is %d, not above %d", leader, curMax, prevMax)
			return
		}
		h.chains[blinded] = append(h.chains[blinded], leader)
		h.max[blinded] = curMax
		return
	}
}

func (c *clCluster) checkKills() {
	t := c.t
	var hist revisionHistory
	name, _ := c.leader()
	c.checkRevisions(&hist, name)
	var uploads, records []time.Duration
	for i := range clKills {
		rep := c.drill("--kill")
		h := c.host(rep.OldLeader.Name)
		h.waitExit(t, 10*time.Second)
		var first clUpload
		clPoll(t, clTTL+15*time.Second, rep.NewLeader.Name+"'s first upload", func() bool {
			var ok bool
			first, ok = c.uploads.first(rep.SignalAt, rep.NewLeader.Name)
			return ok
		})
		took := first.At.Sub(rep.SignalAt)
		t.Logf("kill %d: %s (epoch %d) killed; %s elected after %v, its takeover recorded after %v, first HSDir accepted its upload after %v",
			i+1, rep.OldLeader.Name, rep.OldLeader.Epoch, rep.NewLeader.Name, rep.ElectedAfter.Round(time.Millisecond),
			rep.PublishedAfter.Round(time.Millisecond), took.Round(time.Millisecond))
		if took > clTTL+5*time.Second {
			t.Errorf("kill %d: fresh descriptors uploaded %v after the kill, more than TTL + 5 s", i+1, took)
		}
		if rep.PublishedBy != rep.NewLeader.Name {
			t.Errorf("kill %d: the first later publish record is %s's, the new leader is %s", i+1, rep.PublishedBy, rep.NewLeader.Name)
		}
		uploads, records = append(uploads, took), append(records, rep.PublishedAfter)
		time.Sleep(2 * time.Second) // let the other HSDirs take the upload too
		c.checkRevisions(&hist, rep.NewLeader.Name)

		restarted := time.Now()
		h.start(t)
		c.waitFollower(h.name, restarted, 40*time.Second)
	}
	if chain := hist.longest(); len(chain) < 3 {
		t.Errorf("revision counters on the HSDirs rose under %d successive leaders (%v), want at least 3", len(chain), chain)
	} else {
		t.Logf("revision counters on the HSDirs rose under successive leaders %v", chain)
	}
	med, mx := clMedianMax(uploads)
	rmed, rmx := clMedianMax(records)
	t.Logf("FAILOVER (session TTL %v, %d kills): first accepted upload by the new leader: median %v, max %v; "+
		"takeover publish record in etcd: median %v, max %v", clTTL, clKills, med, mx, rmed, rmx)
}

func clMedianMax(ds []time.Duration) (median, maximum time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median.Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond)
}

func (c *clCluster) checkPause() {
	t := c.t
	old, _ := c.leader()
	h := c.host(old)
	logOffset := h.logSize()
	rep := c.drill("--pause", "9s", "--timeout", "60s")
	resumed := rep.SignalAt.Add(rep.ResumedAfter)
	t.Logf("%s paused: %s elected after %v, published after %v; resumed after %v, follower again after %v",
		old, rep.NewLeader.Name, rep.ElectedAfter.Round(time.Millisecond), rep.PublishedAfter.Round(time.Millisecond),
		rep.ResumedAfter.Round(time.Millisecond), rep.RejoinedAfter.Round(time.Millisecond))
	if rep.ResumedAfter <= clTTL {
		t.Errorf("paused for %v only, want more than the TTL", rep.ResumedAfter)
	}
	time.Sleep(20 * time.Second) // more than the refresh interval: a leader would upload in this time
	for _, u := range c.uploads.since(resumed) {
		if u.Node == old {
			t.Errorf("%s's tor uploaded to %s at %s, after SIGCONT (%s)", old, u.HSDir, u.At.Format("15:04:05.000"), resumed.Format("15:04:05.000"))
		}
	}
	logAfter := h.logSince(t, logOffset)
	if strings.Contains(logAfter, "uploaded descriptor") {
		t.Errorf("%s logged an upload after the pause:\n%s", old, logAfter)
	}
	if !strings.Contains(logAfter, "lost") && !strings.Contains(logAfter, "no longer leading") {
		t.Errorf("%s did not log losing the leadership after the pause:\n%s", old, logAfter)
	}
	if name, _ := c.leader(); name == old {
		t.Errorf("%s leads again right after the pause", old)
	}
	if r := c.nodes()[old]; r.Role != record.RoleFollower {
		t.Errorf("%s's heartbeat says %q after the pause", old, r.Role)
	}
}

func (c *clCluster) checkPartition() {
	t := c.t
	old, oldEpoch := c.leader()
	h := c.host(old)
	logOffset := h.logSize()
	cut := time.Now()
	h.blackhole()
	var rec record.Publish
	clPoll(t, clTTL+20*time.Second, "a new leader's publication after the partition", func() bool {
		var ok bool
		rec, ok = c.publishAfter(oldEpoch, time.Time{})
		return ok
	})
	var first clUpload
	clPoll(t, 20*time.Second, rec.Node+"'s first upload", func() bool {
		var ok bool
		first, ok = c.uploads.first(cut, rec.Node)
		return ok
	})
	t.Logf("%s cut off from etcd: %s took over (epoch %d), publish record after %v, first accepted upload after %v",
		old, rec.Node, rec.Epoch, rec.UploadedAt.Sub(cut).Round(time.Millisecond), first.At.Sub(cut).Round(time.Millisecond))
	if rec.Node == old {
		t.Fatalf("the partitioned leader %s wrote a publish record of epoch %d", old, rec.Epoch)
	}
	clPoll(t, clTTL+10*time.Second, old+" logging the loss of its leadership", func() bool {
		l := h.logSince(t, logOffset)
		return strings.Contains(l, "no longer leading") || strings.Contains(l, "lost")
	})
	time.Sleep(10 * time.Second)
	for _, u := range c.uploads.since(cut) {
		if u.Node == old && !u.At.Before(first.At) {
			t.Errorf("the cut-off leader %s's tor had an upload (%s at %s) after the new leader's first (%s)",
				old, u.HSDir, u.At.Format("15:04:05.000"), first.At.Format("15:04:05.000"))
		}
	}
	if l := h.logSince(t, logOffset); strings.Contains(l, "uploaded descriptor") {
		t.Errorf("the cut-off leader %s uploaded while cut off:\n%s", old, l)
	}
	restored := time.Now()
	h.restore()
	c.waitFollower(old, restored, 40*time.Second)
}

func (c *clCluster) checkMemberDown() {
	t := c.t
	_, epoch := c.leader()
	down := time.Now()
	c.etcd.Stop(0)
	clPoll(t, 45*time.Second, "a publication (refresh) with an etcd member down", func() bool {
		_, ok := c.publishAfter(epoch-1, down)
		return ok
	})
	name, e2 := c.leader()
	t.Logf("etcd member 0 down: %s (epoch %d, was %d) published at refresh time", name, e2, epoch)
	c.etcd.Restart(0)
}

func (c *clCluster) checkQuorumLost() {
	t := c.t
	before := c.published() // by slot
	_, epoch := c.leader()
	offsets := map[string]int64{}
	for _, h := range c.hosts {
		offsets[h.name] = h.logSize()
	}
	// A graceful member stop can take seconds (leader transfer): quorum is surely lost once the second
	// stop has returned.
	stopping := time.Now()
	c.etcd.Stop(1)
	c.etcd.Stop(2)
	lost := time.Now()
	t.Logf("etcd members 1 and 2 stopped in %v: no quorum since %s", lost.Sub(stopping).Round(time.Millisecond), lost.Format("15:04:05.000"))
	time.Sleep(25 * time.Second) // more than TTL + the refresh interval
	for _, u := range c.uploads.since(lost.Add(clTTL)) {
		t.Errorf("%s's tor had an upload (%s at %s) while etcd had no quorum (since %s)",
			u.Node, u.HSDir, u.At.Format("15:04:05.000"), lost.Format("15:04:05.000"))
	}
	for _, h := range c.hosts {
		l := h.logSince(t, offsets[h.name])
		if !strings.Contains(l, "heartbeat failed") && !strings.Contains(l, "election term ended") && !strings.Contains(l, "lost") {
			t.Errorf("%s logged nothing about etcd while it had no quorum:\n%s", h.name, l)
		}
	}
	back := time.Now()
	c.etcd.Restart(1)
	c.etcd.Restart(2)
	// The next leader publishes both descriptors again; each must carry a higher counter than the
	// last one published under the same blinded key before the loss.
	var slot string
	var rec record.Publish
	clPoll(t, 60*time.Second, "a publication after the quorum came back", func() bool {
		for s, r := range c.published() {
			if _, known := before[s]; known && r.UploadedAt.After(back) {
				slot, rec = s, r
				return true
			}
		}
		return false
	})
	t.Logf("quorum back: %s (epoch %d, before %d) published revision %d (before the loss: %d) %v after the restart",
		rec.Node, rec.Epoch, epoch, rec.RevisionCounter, before[slot].RevisionCounter, rec.UploadedAt.Sub(back).Round(time.Millisecond))
	if rec.RevisionCounter <= before[slot].RevisionCounter {
		t.Errorf("revision %d after the quorum came back, not above %d", rec.RevisionCounter, before[slot].RevisionCounter)
	}
}
