package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

func TestStatusReportsClusterWithoutKeys(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "-c", f.Config); code != exitOK {
		t.Fatalf("init: %q", errOut)
	}
	a := obhosttest.StartCandidate(t, f.Endpoints, "a")
	epoch := a.WaitLeader(t)

	cli := storetest.NewClient(t, f.Endpoints...)
	keys := obhosttest.DefaultKeys(t)
	st := store.New(cli, keys, nil, time.Second)
	svc := f.Master.Address()
	received := time.Now().Add(-30 * time.Second).UTC()
	inst, _ := st.PutInstanceOp(svc, record.Instance{Address: f.Backends[0], IntroPoints: make([]record.IntroPoint, 3),
		ReceivedAt: received, DescriptorRevision: 7, Epoch: epoch, Node: "a"})
	pub, _ := st.PutPublishedOp(svc, "aabbccddeeff00112233", record.Publish{PeriodNum: 100, PeriodLength: 1440, RevisionCounter: 555,
		UploadedAt: received, Epoch: epoch, Node: "a", HSDirs: map[string]record.UploadResult{
			"FP1": {Status: record.UploadUploaded, At: received}, "FP2": {Status: record.UploadFailed, Reason: "UPLOAD_REJECTED", At: received}},
		Backends: map[string][]string{"FP1": {f.Backends[0]}, "FP2": {f.Backends[0]}}})
	node, _ := st.PutNodeOp(record.Node{Name: "a", Role: record.RoleLeader, Epoch: epoch, TorBootstrap: 100, TorState: "done",
		Heartbeat: time.Now(), LastError: "something odd"}, 0)
	if err := st.Commit(context.Background(), inst, pub, node); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "status", "--json", "-c", f.Config)
	if code != exitOK {
		t.Fatalf("status --json: code %d, stderr %q", code, errOut)
	}
	assertNoKeyMaterial(t, "status --json", out, f.Master)
	var got obhost.ClusterStatus
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if got.Leader == nil || got.Leader.Name != "a" || got.Leader.Epoch != epoch || got.ConfigRevision == 0 {
		t.Errorf("leader %+v, config revision %d", got.Leader, got.ConfigRevision)
	}
	if len(got.Nodes) != 1 || got.Nodes[0].Role != record.RoleLeader || got.Nodes[0].LastError != "something odd" ||
		got.Nodes[0].HeartbeatAge < 0 || got.Nodes[0].HeartbeatAge > 30 {
		t.Errorf("nodes %+v", got.Nodes)
	}
	if len(got.Services) != 1 {
		t.Fatalf("services %+v", got.Services)
	}
	s := got.Services[0]
	if s.Address != svc || !s.InConfig || s.Key != "sealed" || s.KeyKEKID == "" || len(s.Backends) != 2 {
		t.Fatalf("service %+v", s)
	}
	b := s.Backends[0]
	if b.Address != f.Backends[0] || b.Name != "b1" || b.IntroPoints != 3 || b.Age == nil || *b.Age < 29 || b.DescriptorRevision != 7 {
		t.Errorf("backend %+v", b)
	}
	if s.Backends[1].Age != nil {
		t.Errorf("never-received backend has an age: %+v", s.Backends[1])
	}
	if len(s.Descriptors) != 1 || s.Descriptors[0].RevisionCounter != 555 || len(s.Descriptors[0].HSDirs) != 2 ||
		s.Descriptors[0].HSDirs[1].Reason != "UPLOAD_REJECTED" {
		t.Errorf("descriptors %+v", s.Descriptors)
	} else if hb := s.Descriptors[0].HSDirs[0].Backends; len(hb) != 1 || hb[0] != f.Backends[0] {
		t.Errorf("backends in FP1's descriptor: %v, want [%s]", hb, f.Backends[0])
	}

	code, out, errOut = runCLIEnv(t, obhosttest.NoEnv, "status", "--etcd-endpoints", strings.Join(f.Endpoints, ","))
	if code != exitOK {
		t.Fatalf("status: code %d, stderr %q", code, errOut)
	}
	assertNoKeyMaterial(t, "status", out, f.Master)
	for _, want := range []string{"Leader:   a (epoch", "something odd", svc + ".onion (master key: sealed", f.Backends[0] + ".onion",
		"revision 555", "1 ok, 1 failed, 0 pending", "UPLOAD_REJECTED", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "FP1") && !strings.Contains(line, f.Backends[0]) && !strings.Contains(line, "b1") {
			t.Errorf("status text does not say which backends FP1 got: %q", line)
		}
	}
}

func TestStatusNeedsEndpoints(t *testing.T) {
	code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "status", "--etcd-prefix", "/x")
	if code != exitError || !strings.Contains(errOut, "no etcd endpoints") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

// TestStatusRoleAndKeySource: the leader is whoever the election keys say, never a heartbeat that
// outlived its leadership; and a master key that is not in etcd is reported as read from the node's
// config file when no cluster configuration in etcd lists the service (single hosts and nodes with
// services in their config file), as missing only when one does.
func TestStatusRoleAndKeySource(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	keys := obhosttest.DefaultKeys(t)
	st := store.New(cli, keys, nil, time.Second)
	ctx := context.Background()
	now := time.Now()

	// "a" led in epoch 5 and died: its heartbeat still says leader. "b" won since and has not
	// rewritten its heartbeat yet; "c" follows.
	if _, err := cli.Put(ctx, keys.Election()+"/694d8b6a1f3c2e07", "b"); err != nil {
		t.Fatal(err)
	}
	var ops []clientv3.Op
	for _, r := range []record.Node{
		{Name: "a", Role: record.RoleLeader, Epoch: 5, Heartbeat: now.Add(-4 * time.Second)},
		{Name: "b", Role: record.RoleFollower, Heartbeat: now.Add(-time.Second)},
		{Name: "c", Role: record.RoleFollower, Heartbeat: now},
	} {
		op, err := st.PutNodeOp(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	// Two services with publish records and no key in etcd; the cluster configuration lists one.
	var addrs [3]string
	for i := range addrs {
		k, err := hsv3.GenerateIdentityKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = k.Address()
	}
	fromFile, listed := addrs[0], addrs[1]
	for _, svc := range []string{fromFile, listed} {
		op, err := st.PutPublishedOp(svc, "00ff", record.Publish{PeriodNum: 1, PeriodLength: 1440, RevisionCounter: 9, UploadedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if err := st.Commit(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if err := st.PutConfig(ctx, []byte(`{"version":1,"services":[{"address":"`+listed+`","intro_points_per_backend":2,"instances":[{"address":"`+addrs[2]+`"}]}]}`)); err != nil {
		t.Fatal(err)
	}

	got, err := obhost.GatherStatus(ctx, cli, keys, time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Leader == nil || got.Leader.Name != "b" {
		t.Fatalf("leader %+v, want b", got.Leader)
	}
	roles := map[string]string{}
	leaders := 0
	for _, n := range got.Nodes {
		roles[n.Name] = n.Role
		if n.Role == record.RoleLeader {
			leaders++
			if n.Epoch != got.Leader.Epoch {
				t.Errorf("leader %s shown with epoch %d, the election says %d", n.Name, n.Epoch, got.Leader.Epoch)
			}
		}
	}
	if leaders != 1 || roles["b"] != record.RoleLeader || roles["a"] == record.RoleLeader || roles["c"] != record.RoleFollower {
		t.Errorf("roles %v, want b alone as leader", roles)
	}
	keySource := map[string]string{}
	for _, s := range got.Services {
		keySource[s.Address] = s.Key
	}
	if keySource[fromFile] != obhost.KeyFromConfigFile || keySource[listed] != "missing" {
		t.Errorf("key sources %v, want %s: %q and %s: missing", keySource, fromFile, obhost.KeyFromConfigFile, listed)
	}

	var out strings.Builder
	writeStatusText(&out, got)
	for _, want := range []string{"master key: not in etcd: read from the node's config file", "leader (stale)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "a" && f[1] == record.RoleLeader && !strings.Contains(line, "stale") {
			t.Errorf("the dead leader is shown as leader: %q", line)
		}
	}
}

// TestStatusShowsGoodRecordsBesideBadOnes: a record that does not decode is named, and the service's
// other records are still shown (the leader, too, leaves only the bad one out).
func TestStatusShowsGoodRecordsBesideBadOnes(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	keys := obhosttest.DefaultKeys(t)
	st := store.New(cli, keys, nil, time.Second)
	ctx := context.Background()
	now := time.Now()
	svc := obhosttest.OnionAddress(t)
	op, err := st.PutPublishedOp(svc, "00ff", record.Publish{PeriodNum: 1, PeriodLength: 1440, RevisionCounter: 9, UploadedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, keys.Published(svc, "11ee"), "{"); err != nil {
		t.Fatal(err)
	}

	got, err := obhost.GatherStatus(ctx, cli, keys, time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Services) != 1 || len(got.Services[0].Descriptors) != 1 || got.Services[0].Descriptors[0].RevisionCounter != 9 {
		t.Fatalf("services %+v, want %s with its good publish record", got.Services, svc)
	}
	if bad := got.Services[0].BadRecords; len(bad) != 1 || !strings.Contains(bad[0], keys.Published(svc, "11ee")) {
		t.Errorf("bad records %q, want the one at %s", bad, keys.Published(svc, "11ee"))
	}
	var out strings.Builder
	writeStatusText(&out, got)
	if !strings.Contains(out.String(), "BAD RECORD, left out: ") {
		t.Errorf("status text does not name the bad record:\n%s", out.String())
	}
}
