package obhost

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// drillCluster is two candidates over one etcd: a leads; b, once it leads, writes a publish record as
// a new leader does.
type drillCluster struct {
	a, b    *obhosttest.Candidate
	epochA  int64
	st      *store.Store
	drill   Drill
	mu      sync.Mutex
	signals []syscall.Signal
}

// newDrillCluster starts the candidates and a Drill whose signals go to onSignal instead of a process
// (both node names map to the test binary, obhost.test).
func newDrillCluster(t *testing.T, onSignal func(c *drillCluster, sig syscall.Signal)) *drillCluster {
	t.Helper()
	eps := storetest.Single(t)
	c := &drillCluster{a: obhosttest.StartCandidate(t, eps, "a")}
	c.epochA = c.a.WaitLeader(t)
	c.b = obhosttest.StartCandidate(t, eps, "b")
	cli := storetest.NewClient(t, eps...)
	keys := obhosttest.DefaultKeys(t)
	c.st = store.New(cli, keys, nil, time.Second)
	svc := obhosttest.OnionAddress(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if eb, ok := c.b.Election.IsLeader(); ok {
				op, _ := c.st.PutPublishedOp(svc, "00ff", record.Publish{RevisionCounter: 42, Epoch: eb, Node: "b", UploadedAt: time.Now()})
				c.b.Election.Write(ctx, eb, op)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	c.drill = Drill{KV: cli, Keys: keys, Timeout: time.Second, Poll: 10 * time.Millisecond, ProcessName: "obhost",
		PIDs: map[string]int{"a": os.Getpid(), "b": os.Getpid()},
		Signal: func(pid int, sig syscall.Signal) error {
			c.mu.Lock()
			c.signals = append(c.signals, sig)
			c.mu.Unlock()
			onSignal(c, sig)
			return nil
		}}
	return c
}

func (c *drillCluster) sent() []syscall.Signal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.signals)
}

func TestDrillKillMeasuresTakeover(t *testing.T) {
	c := newDrillCluster(t, func(c *drillCluster, sig syscall.Signal) {
		c.a.Stop() // the fake kill: a's candidacy ends
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stranger := c.drill
	stranger.ProcessName = "" // onionbalance: not the test binary
	if _, err := stranger.Run(ctx, 0); err == nil || !strings.Contains(err.Error(), "not onionbalance") {
		t.Fatalf("drill of a process that is not onionbalance: %v", err)
	}
	if got := c.sent(); len(got) != 0 {
		t.Fatalf("signals %v sent to a stranger", got)
	}
	rep, err := c.drill.Run(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.sent(); len(got) != 1 || got[0] != syscall.SIGKILL {
		t.Errorf("signals %v, want [SIGKILL]", got)
	}
	if rep.Mode != "kill" || rep.OldLeader.Name != "a" || rep.OldLeader.Epoch != c.epochA || rep.NewLeader.Name != "b" ||
		rep.PublishedBy != "b" || rep.RevisionCounter != 42 || rep.ElectedAfter <= 0 || rep.PublishedAfter < rep.ElectedAfter ||
		rep.ResumedAfter != 0 || rep.RejoinedAfter != 0 {
		t.Fatalf("report %+v", rep)
	}
	js, _ := json.Marshal(rep)
	t.Logf("drill report: %s", js)
}

// TestDrillPauseResumesAndSeesRejoin: a pause stops the leader, continues it once the pause has
// passed, and ends when the old leader's heartbeat shows it as a follower again.
func TestDrillPauseResumesAndSeesRejoin(t *testing.T) {
	const pause = 300 * time.Millisecond
	continued := make(chan struct{})
	c := newDrillCluster(t, func(c *drillCluster, sig syscall.Signal) {
		switch sig {
		case syscall.SIGSTOP:
			c.a.Stop() // the fake pause: a's session is gone
		case syscall.SIGCONT:
			close(continued)
		}
	})
	// The continued node heartbeats as a follower, as the daemon does, until the test ends.
	hbCtx, hbCancel := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		select {
		case <-continued:
		case <-hbCtx.Done():
			return
		}
		for hbCtx.Err() == nil {
			op, err := c.st.PutNodeOp(record.Node{Name: "a", Role: record.RoleFollower, Heartbeat: time.Now()}, 0)
			if err == nil {
				err = c.st.Commit(hbCtx, op)
			}
			if err != nil && hbCtx.Err() == nil {
				t.Errorf("heartbeat of a: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { hbCancel(); <-hbDone }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := c.drill.Run(ctx, pause)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.sent(); !slices.Equal(got, []syscall.Signal{syscall.SIGSTOP, syscall.SIGCONT}) {
		t.Errorf("signals %v, want [SIGSTOP SIGCONT]", got)
	}
	if rep.Mode != "pause" || rep.OldLeader.Name != "a" || rep.NewLeader.Name != "b" || rep.PublishedBy != "b" ||
		rep.ResumedAfter < pause || rep.ResumedAfter < rep.PublishedAfter || rep.RejoinedAfter < rep.ResumedAfter {
		t.Fatalf("report %+v", rep)
	}
}

func TestDrillRefusesStrangerPID(t *testing.T) {
	if err := checkProcessName(1, "onionbalance"); err == nil {
		t.Error("pid 1 accepted as onionbalance")
	}
	if err := checkProcessName(os.Getpid(), "onionbalance"); err == nil {
		t.Error("the test binary (obhost.test) accepted as onionbalance")
	}
	if err := checkProcessName(os.Getpid(), "obhost"); err != nil {
		t.Errorf("own pid: %v", err)
	}
}
