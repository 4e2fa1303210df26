package obhost

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/health"
)

func TestStatusCollector(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	st := &publisher.Status{
		Leading: true, Epoch: 42,
		Counters: publisher.Counters{LeaderTransitions: 1, TorReconnects: 2,
			Publishes: map[string]uint64{"uploaded": 5}, UploadFailures: map[string]uint64{"AAAA": 3},
			FetchFailures: map[string]uint64{"NOT_FOUND": 4}},
		Services: []publisher.ServiceStatus{{
			Address: "m.onion",
			Backends: []publisher.BackendStatus{
				{Address: "b1.onion", Live: true, ReceivedAt: now.Add(-90 * time.Second)},
				{Address: "b2.onion", Health: "down", Excluded: true},
			},
			Descriptors: []publisher.DescriptorState{
				{Current: "first", Revision: 77, IntroPoints: map[string]string{"k1": "b1", "k2": "b1"},
					HSDirs: map[string]publisher.UploadState{
						"AAAA": {Status: "uploaded", Backends: []string{"b1"}},
						"BBBB": {Status: "uploaded", Backends: []string{"b1"}},
						"CCCC": {Status: "failed", Backends: []string{"b1"}},
					}},
				{Current: "", Revision: 1}, // an old period: not exported
			},
		}},
	}
	c := newStatusCollector(func() *publisher.Status { return st }, func() time.Time { return now })
	want := `
# HELP onionbalance_backend_descriptor_age_seconds Seconds since the backend's descriptor was last received.
# TYPE onionbalance_backend_descriptor_age_seconds gauge
onionbalance_backend_descriptor_age_seconds{backend="b1.onion",service="m.onion"} 90
# HELP onionbalance_backend_hsdirs HSDirs that accepted a descriptor including the backend (0: clients cannot reach it).
# TYPE onionbalance_backend_hsdirs gauge
onionbalance_backend_hsdirs{backend="b1.onion",descriptor="first",service="m.onion"} 2
onionbalance_backend_hsdirs{backend="b2.onion",descriptor="first",service="m.onion"} 0
# HELP onionbalance_backend_live 1 when the backend is in the next descriptor.
# TYPE onionbalance_backend_live gauge
onionbalance_backend_live{backend="b1.onion",service="m.onion"} 1
onionbalance_backend_live{backend="b2.onion",service="m.onion"} 0
# HELP onionbalance_backends_down Backends the leader's health judgement finds down (only on the leader).
# TYPE onionbalance_backends_down gauge
onionbalance_backends_down{service="m.onion"} 1
# HELP onionbalance_intro_points_published Intro points in the last published descriptor(s).
# TYPE onionbalance_intro_points_published gauge
onionbalance_intro_points_published{descriptor="first",service="m.onion"} 2
# HELP onionbalance_leader 1 while this node is the leader, else 0.
# TYPE onionbalance_leader gauge
onionbalance_leader 1
# HELP onionbalance_leader_epoch Epoch (election key create revision) of this node's leadership, 0 when following.
# TYPE onionbalance_leader_epoch gauge
onionbalance_leader_epoch 42
# HELP onionbalance_publishes_total Descriptor publications by result.
# TYPE onionbalance_publishes_total counter
onionbalance_publishes_total{result="error"} 0
onionbalance_publishes_total{result="uploaded"} 5
# HELP onionbalance_hsdir_upload_failures_total Descriptor uploads an HSDir did not accept.
# TYPE onionbalance_hsdir_upload_failures_total counter
onionbalance_hsdir_upload_failures_total{hsdir="AAAA"} 3
# HELP onionbalance_backend_fetch_failures_total Failed backend descriptor fetches by reason.
# TYPE onionbalance_backend_fetch_failures_total counter
onionbalance_backend_fetch_failures_total{reason="NOT_FOUND"} 4
# HELP onionbalance_tor_control_reconnects_total Reconnections to the tor control port after a loss.
# TYPE onionbalance_tor_control_reconnects_total counter
onionbalance_tor_control_reconnects_total 2
# HELP onionbalance_revision_counter Revision counter of the last published descriptor.
# TYPE onionbalance_revision_counter gauge
onionbalance_revision_counter{descriptor="first",service="m.onion"} 77
# HELP onionbalance_leader_transitions_total Times this node became or stopped being the leader.
# TYPE onionbalance_leader_transitions_total counter
onionbalance_leader_transitions_total 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c, newEtcdLatency())
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic registry: %v", err)
	}
}

// A metrics address that is not loopback is served, with a warning that /metrics is reachable from
// the network; a loopback one without.
func TestServeMetricsWarnsWhenNotLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"0.0.0.0:0", true},
		{":0", true},
		{"127.0.0.1:0", false},
		{"localhost:0", false},
	} {
		var buf bytes.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
		d := &Daemon{}
		ctx, cancel := context.WithCancel(context.Background())
		if err := serveMetrics(ctx, d, tc.addr, prometheus.NewRegistry(), log); err != nil {
			cancel()
			t.Fatalf("serveMetrics(%s): %v", tc.addr, err)
		}
		cancel()
		d.wg.Wait()
		want := "metrics.listen " + tc.addr + " is not loopback: /metrics is reachable from the network"
		got := strings.Contains(buf.String(), "[WARN]") && strings.Contains(buf.String(), want)
		if got != tc.warn {
			t.Errorf("metrics.listen %s: warned = %v, want %v; log:\n%s", tc.addr, got, tc.warn, buf.String())
		}
	}
}

// Each probe is counted by outcome and its latency goes into the histogram.
func TestHealthMetrics(t *testing.T) {
	m := newHealthMetrics()
	reg := prometheus.NewPedanticRegistry()
	if err := m.register(reg); err != nil {
		t.Fatal(err)
	}
	m.observeProbe(health.IntroFailed, 2500*time.Millisecond)
	m.observeProbe(health.IntroFailed, 4*time.Second)
	m.observeProbe(health.Connected, 800*time.Millisecond)
	want := `
# HELP onionbalance_probes_total Health probes this node made, by outcome (connected, answered, intro-failed, timeout, ...).
# TYPE onionbalance_probes_total counter
onionbalance_probes_total{outcome="answered"} 0
onionbalance_probes_total{outcome="connected"} 1
onionbalance_probes_total{outcome="intro-failed"} 2
onionbalance_probes_total{outcome="timeout"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "onionbalance_probes_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Fatalf("%d latency series", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "onionbalance_probe_latency_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 3 || h.GetSampleSum() != 7.3 {
			t.Errorf("latency histogram: %d samples, sum %v; want 3, 7.3", h.GetSampleCount(), h.GetSampleSum())
		}
	}
	var nilMetrics *healthMetrics
	nilMetrics.observeProbe(health.Timeout, time.Second) // no metrics: no panic
}
