package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

func TestProbeReportUnderLease(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	reps := []record.ProbeReport{
		{Node: "node-b", At: t0, IntervalMS: 30000, TorReady: false},
		{Node: "node-a", At: t0, IntervalMS: 30000, TorReady: true, Results: []record.ProbeResult{
			{Backend: "backendaddr", Port: 80, Round: 7, At: t0.Add(-time.Second), Outcome: "intro-failed",
				LatencyMS: 2210, Detail: "0xf2 onion service introduction failed"},
		}},
	}
	for _, r := range reps {
		if err := s.PutProbeReport(ctx, r, lease.ID); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ProbeReports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []record.ProbeReport{reps[1], reps[0]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("probe reports = %+v\nwant %+v (by node name)", got, want)
	}
	if err := s.PutProbeReport(ctx, record.ProbeReport{Node: "a/b"}, lease.ID); err == nil {
		t.Error("a node name with a slash was accepted")
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ProbeReports(ctx); err != nil || len(got) != 0 {
		t.Fatalf("probe reports after the lease ended: %+v, %v", got, err)
	}
}

func TestBackendHealthRoundTrip(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	recs := []record.BackendHealth{
		{Address: "aaaa", State: record.HealthDown, Since: t0, Reason: "3 failures", DownRevision: 12,
			LastAlive: t0.Add(-time.Minute), Epoch: 9, Node: "node-a"},
		{Address: "bbbb", State: record.HealthUp, Since: t0, Epoch: 9, Node: "node-a"},
	}
	for _, r := range recs {
		op, err := s.PutBackendHealthOp(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.BackendHealths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]record.BackendHealth{"aaaa": recs[0], "bbbb": recs[1]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("verdicts = %+v\nwant %+v", got, want)
	}
	if _, err := s.PutBackendHealthOp(record.BackendHealth{Address: ""}); err == nil {
		t.Error("a verdict without an address was accepted")
	}
	// A record that does not decode is left out and reported.
	if _, err := cli.Put(ctx, s.Keys().BackendHealth("cccc"), "{not json"); err != nil {
		t.Fatal(err)
	}
	got, err = s.BackendHealths(ctx)
	if !errors.Is(err, record.ErrBad) || !reflect.DeepEqual(got, want) {
		t.Fatalf("with a bad record: %+v, %v; want the good ones and an error wrapping record.ErrBad", got, err)
	}
}
