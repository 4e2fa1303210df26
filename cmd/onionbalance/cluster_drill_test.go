package main

import (
	"context"
	"encoding/json"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

func TestDrillKillMeasuresTakeover(t *testing.T) {
	eps := storetest.Single(t)
	a := obhosttest.StartCandidate(t, eps, "a")
	ea := a.WaitLeader(t)
	b := obhosttest.StartCandidate(t, eps, "b")
	cli := storetest.NewClient(t, eps...)
	keys := obhosttest.DefaultKeys(t)
	st := store.New(cli, keys, nil, time.Second)
	svc := obhosttest.OnionAddress(t)

	// b publishes once it leads, as a new leader does.
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if eb, ok := b.Election.IsLeader(); ok {
				op, _ := st.PutPublishedOp(svc, "00ff", record.Publish{RevisionCounter: 42, Epoch: eb, Node: "b", UploadedAt: time.Now()})
				b.Election.Write(context.Background(), eb, op)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	var signals []syscall.Signal
	d := drill{kv: cli, keys: keys, timeout: time.Second, poll: 10 * time.Millisecond,
		pids: map[string]int{"a": os.Getpid(), "b": os.Getpid()}, // the test binary's name contains "onionbalance"
		signal: func(pid int, sig syscall.Signal) error {
			signals = append(signals, sig)
			a.Stop() // the fake kill: a's candidacy ends
			return nil
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := d.run(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(signals) != 1 || signals[0] != syscall.SIGKILL {
		t.Errorf("signals %v, want [SIGKILL]", signals)
	}
	if rep.OldLeader.Name != "a" || rep.OldLeader.Epoch != ea || rep.NewLeader.Name != "b" || rep.PublishedBy != "b" ||
		rep.RevisionCounter != 42 || rep.ElectedAfter <= 0 || rep.PublishedAfter < rep.ElectedAfter {
		t.Fatalf("report %+v", rep)
	}
	js, _ := json.Marshal(rep)
	t.Logf("drill report: %s", js)
}

func TestDrillRefusesStrangerPID(t *testing.T) {
	if err := checkOnionbalancePID(1); err == nil {
		t.Error("pid 1 accepted as onionbalance")
	}
	if err := checkOnionbalancePID(os.Getpid()); err != nil {
		t.Errorf("own pid: %v", err)
	}
}
