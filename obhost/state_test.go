package obhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// TestFencedRecordsDeletesRecordsFenced: over a real etcd, the leader's deletes of instance and publish
// records are fenced by its epoch (a stale epoch deletes nothing), never touch the service's sealed
// key, and go through however many records there are (etcd allows 128 operations per transaction).
func TestFencedRecordsDeletesRecordsFenced(t *testing.T) {
	eps := storetest.Single(t)
	cli := storetest.NewClient(t, eps...)
	keys := obhosttest.DefaultKeys(t)
	st := store.New(cli, keys, nil, 5*time.Second)
	n := startStepDownNode(t, eps, "obhost1")
	epoch := n.WaitLeader(t)
	ss := &fencedRecords{st: st, el: n.Election, latency: newEtcdLatency()}
	ctx := context.Background()

	svc, other := strings.Repeat("a", 56), strings.Repeat("b", 56)
	if _, err := cli.Put(ctx, keys.ServiceKey(svc), "obplain:v1:c2VjcmV0"); err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := 0; i < 150; i++ {
		many = append(many, fmt.Sprintf("inst%03d", i))
	}
	put := func(svc string, insts []string) {
		t.Helper()
		for _, inst := range insts {
			if err := ss.PutInstance(ctx, epoch, svc, record.Instance{Address: inst}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(svc, []string{"inst1", "inst2"})
	put(other, many)
	for _, slot := range []string{"01", "02"} {
		if err := ss.PutPublished(ctx, epoch, svc, slot, record.Publish{PeriodNum: 1, PeriodLength: 1440}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ss.RecordKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[svc]; strings.Join(got.Instances, ",") != "inst1,inst2" || strings.Join(got.Published, ",") != "01,02" {
		t.Fatalf("records of %s: %+v", svc, got)
	}
	if got := recs[other]; !slices.Equal(got.Instances, many) || len(got.Published) != 0 {
		t.Fatalf("records of %s: %d instances, slots %v", other, len(got.Instances), got.Published)
	}

	// A stale epoch deletes nothing.
	if err := ss.DeleteRecords(ctx, epoch-1, svc, []string{"inst1"}, []string{"01"}); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("delete under a stale epoch: %v, want ErrNotLeader", err)
	}
	if recs, _ := ss.RecordKeys(ctx); len(recs[svc].Instances) != 2 || len(recs[svc].Published) != 2 {
		t.Fatalf("a stale epoch deleted records: %+v", recs[svc])
	}

	if err := ss.DeleteRecords(ctx, epoch, svc, []string{"inst1"}, []string{"01"}); err != nil {
		t.Fatal(err)
	}
	if err := ss.DeleteRecords(ctx, epoch, other, many, nil); err != nil {
		t.Fatal(err)
	}
	recs, err = ss.RecordKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[svc]; strings.Join(got.Instances, ",") != "inst2" || strings.Join(got.Published, ",") != "02" {
		t.Fatalf("records of %s after deleting inst1 and 01: %+v", svc, got)
	}
	if _, ok := recs[other]; ok {
		t.Fatalf("records of %s left after deleting all 150: %+v", other, recs[other])
	}
	if resp, err := cli.Get(ctx, keys.ServiceKey(svc)); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the service key is gone (%v)", err)
	}

	// After stepping down, the old epoch deletes nothing either.
	if err := n.Election.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ss.DeleteRecords(ctx, epoch, svc, []string{"inst2"}, nil); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("delete after stepping down: %v, want ErrNotLeader", err)
	}
	if recs, _ := ss.RecordKeys(ctx); len(recs[svc].Instances) != 1 {
		t.Fatalf("a deposed leader deleted records: %+v", recs[svc])
	}
}
