package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

func TestStatusReportsClusterWithoutKeys(t *testing.T) {
	f := newClusterFixture(t, 2)
	if code, _, errOut := runCLIEnv(t, noEnv, "cluster", "init", "-c", f.config); code != exitOK {
		t.Fatalf("init: %q", errOut)
	}
	a := startLiveNode(t, f.endpoints, "a")
	epoch := a.waitLeader(t)

	cli := storetest.NewClient(t, f.endpoints...)
	keys := defaultKeys(t)
	st := store.New(cli, keys, nil, time.Second)
	svc := f.master.Address()
	received := time.Now().Add(-30 * time.Second).UTC()
	inst, _ := st.PutInstanceOp(svc, store.InstanceRecord{Address: f.backends[0], IntroPoints: make([]store.IntroPoint, 3),
		ReceivedAt: received, DescriptorRevision: 7, Epoch: epoch, Node: "a"})
	pub, _ := st.PutPublishedOp(svc, "aabbccddeeff00112233", store.PublishRecord{PeriodNum: 100, PeriodLength: 1440, RevisionCounter: 555,
		UploadedAt: received, Epoch: epoch, Node: "a", HSDirs: map[string]store.UploadResult{
			"FP1": {Status: store.UploadUploaded, At: received}, "FP2": {Status: store.UploadFailed, Reason: "UPLOAD_REJECTED", At: received}},
		Backends: map[string][]string{"FP1": {f.backends[0]}, "FP2": {f.backends[0]}}})
	node, _ := st.PutNodeOp(store.NodeRecord{Name: "a", Role: store.RoleLeader, Epoch: epoch, TorBootstrap: 100, TorState: "done",
		Heartbeat: time.Now(), LastError: "something odd"}, 0)
	if err := st.Commit(context.Background(), inst, pub, node); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLIEnv(t, noEnv, "status", "--json", "-c", f.config)
	if code != exitOK {
		t.Fatalf("status --json: code %d, stderr %q", code, errOut)
	}
	assertNoKeyMaterial(t, "status --json", out, f.master)
	var got clusterStatus
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if got.Leader == nil || got.Leader.Name != "a" || got.Leader.Epoch != epoch || got.ConfigRevision == 0 {
		t.Errorf("leader %+v, config revision %d", got.Leader, got.ConfigRevision)
	}
	if len(got.Nodes) != 1 || got.Nodes[0].Role != store.RoleLeader || got.Nodes[0].LastError != "something odd" ||
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
	if b.Address != f.backends[0] || b.Name != "b1" || b.IntroPoints != 3 || b.Age == nil || *b.Age < 29 || b.DescriptorRevision != 7 {
		t.Errorf("backend %+v", b)
	}
	if s.Backends[1].Age != nil {
		t.Errorf("never-received backend has an age: %+v", s.Backends[1])
	}
	if len(s.Descriptors) != 1 || s.Descriptors[0].RevisionCounter != 555 || len(s.Descriptors[0].HSDirs) != 2 ||
		s.Descriptors[0].HSDirs[1].Reason != "UPLOAD_REJECTED" {
		t.Errorf("descriptors %+v", s.Descriptors)
	} else if hb := s.Descriptors[0].HSDirs[0].Backends; len(hb) != 1 || hb[0] != f.backends[0] {
		t.Errorf("backends in FP1's descriptor: %v, want [%s]", hb, f.backends[0])
	}

	code, out, errOut = runCLIEnv(t, noEnv, "status", "--etcd-endpoints", strings.Join(f.endpoints, ","))
	if code != exitOK {
		t.Fatalf("status: code %d, stderr %q", code, errOut)
	}
	assertNoKeyMaterial(t, "status", out, f.master)
	for _, want := range []string{"Leader:   a (epoch", "something odd", svc + ".onion (master key: sealed", f.backends[0] + ".onion",
		"revision 555", "1 ok, 1 failed, 0 pending", "UPLOAD_REJECTED", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "FP1") && !strings.Contains(line, f.backends[0]) && !strings.Contains(line, "b1") {
			t.Errorf("status text does not say which backends FP1 got: %q", line)
		}
	}
}

func TestStatusNeedsEndpoints(t *testing.T) {
	code, _, errOut := runCLIEnv(t, noEnv, "status", "--etcd-prefix", "/x")
	if code != exitError || !strings.Contains(errOut, "no etcd endpoints") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}
