package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// onionbalance status shows each backend's health as the leader judged it (state, why) and each
// node's last probe of it (outcome, latency, age), from etcd.
func TestStatusShowsBackendHealth(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	if code, _, errOut := runCLIEnv(t, obhosttest.NoEnv, "cluster", "init", "-c", f.Config); code != exitOK {
		t.Fatalf("init: %q", errOut)
	}
	cli := storetest.NewClient(t, f.Endpoints...)
	st := store.New(cli, obhosttest.DefaultKeys(t), nil, time.Second)
	ctx := context.Background()
	dead, alive := f.Backends[0], f.Backends[1]
	now := time.Now().UTC()
	verdict, _ := st.PutBackendHealthOp(record.BackendHealth{Address: dead, State: record.HealthDown, Since: now.Add(-time.Minute),
		Reason: "3 failures from 2 nodes over 1m0s (last: intro-failed)", Epoch: 7, Node: "a"})
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		op, _ := st.PutNodeOp(record.Node{Name: n, TorBootstrap: 100, Heartbeat: now}, lease.ID)
		if err := st.Commit(ctx, op, verdict); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutProbeReport(ctx, record.ProbeReport{Node: "a", At: now, IntervalMS: 30000, TorReady: true, Results: []record.ProbeResult{
		{Backend: dead, Port: 80, At: now.Add(-40 * time.Second), Outcome: "intro-failed", LatencyMS: 1900},
		{Backend: dead, Port: 80, At: now.Add(-10 * time.Second), Outcome: "intro-timeout", LatencyMS: 2400},
		{Backend: alive, Port: 80, At: now.Add(-10 * time.Second), Outcome: "connected", LatencyMS: 800},
	}}, lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.PutProbeReport(ctx, record.ProbeReport{Node: "b", At: now, IntervalMS: 30000, TorReady: false}, lease.ID); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLIEnv(t, obhosttest.NoEnv, "status", "--json", "-c", f.Config)
	if code != exitOK {
		t.Fatalf("status --json: code %d, stderr %q", code, errOut)
	}
	var got obhost.ClusterStatus
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	bs := got.Services[0].Backends
	if h := bs[0].Health; h == nil || h.State != record.HealthDown || !strings.Contains(h.Reason, "3 failures") {
		t.Errorf("health of the dead backend: %+v", h)
	}
	if p := bs[0].Probes; len(p) != 1 || p[0].Node != "a" || p[0].Outcome != "intro-timeout" || p[0].LatencyMS != 2400 ||
		p[0].Age < 9 || p[0].Age > 60 {
		t.Errorf("probes of the dead backend: %+v, want a's last one", p)
	}
	if bs[1].Health != nil || len(bs[1].Probes) != 1 || bs[1].Probes[0].Outcome != "connected" {
		t.Errorf("the live backend: health %+v, probes %+v", bs[1].Health, bs[1].Probes)
	}
	if len(got.Nodes) != 2 || got.Nodes[1].Probes == nil || got.Nodes[1].Probes.TorReady {
		t.Errorf("node b's prober: %+v", got.Nodes)
	}

	code, out, errOut = runCLIEnv(t, obhosttest.NoEnv, "status", "-c", f.Config)
	if code != exitOK {
		t.Fatalf("status: code %d, stderr %q", code, errOut)
	}
	t.Logf("status:\n%s", out)
	for _, want := range []string{"HEALTH", "down: 3 failures from 2 nodes over 1m0s (last: intro-failed)",
		"a: intro-timeout 2.4s", "a: connected 800ms", "tor not ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}
