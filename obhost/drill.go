package obhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// DrillResult is what a drill measured (the JSON of `onionbalance cluster drill --json`). Durations
// are counted from the signal.
type DrillResult struct {
	Mode      string            `json:"mode"` // "kill" or "pause"
	OldLeader cluster.Candidate `json:"old_leader"`
	PID       int               `json:"pid"`
	SignalAt  time.Time         `json:"signal_at"`
	NewLeader cluster.Candidate `json:"new_leader"`
	// ElectedAfter is when etcd first showed a leader of another epoch.
	ElectedAfter time.Duration `json:"elected_after_ns"`
	// PublishedAfter is when etcd first showed a publish record of a later epoch: the new leader has
	// recorded its revision counter and is uploading.
	PublishedAfter  time.Duration `json:"published_after_ns"`
	PublishedBy     string        `json:"published_by"`
	RevisionCounter uint64        `json:"revision_counter"`
	// ResumedAfter and RejoinedAfter are set for a pause: when SIGCONT was sent, and when the old
	// leader's heartbeat next showed it as a follower.
	ResumedAfter  time.Duration `json:"resumed_after_ns,omitempty"`
	RejoinedAfter time.Duration `json:"rejoined_after_ns,omitempty"`
}

// Drill kills (SIGKILL) or pauses (SIGSTOP, then SIGCONT) the leader of a running test cluster and
// measures the takeover from what etcd shows: the new leader's election key, its first publish
// record, and (after a pause) the old leader's heartbeat as a follower.
type Drill struct {
	KV      clientv3.KV
	Keys    store.Keys
	Timeout time.Duration  // bounds each etcd request
	PIDs    map[string]int // the obhost processes, by node name
	// Signal sends sig to pid; nil is syscall.Kill.
	Signal func(pid int, sig syscall.Signal) error
	// ProcessName must be part of the leader process's argv[0] before it is signalled, so that a
	// stale PIDs map never makes the drill kill a stranger; "" is "onionbalance".
	ProcessName string
	Poll        time.Duration // how often etcd is read; 0 is 50 ms
	Clock       clock.Clock   // nil is clock.Real
}

// Run signals the leader and waits, until ctx ends, for another node to lead and publish. With
// pause > 0 the leader is stopped, continued once pause has passed since the signal, and Run waits
// for it to rejoin as a follower; the process is never left stopped.
func (d Drill) Run(ctx context.Context, pause time.Duration) (DrillResult, error) {
	clk := clock.Or(d.Clock)
	signal := d.Signal
	if signal == nil {
		signal = syscall.Kill
	}
	old, err := currentLeader(ctx, d.KV, d.Keys, d.Timeout)
	if errors.Is(err, cluster.ErrNoLeader) {
		return DrillResult{}, errors.New("nobody leads the cluster: nothing to drill")
	}
	if err != nil {
		return DrillResult{}, err
	}
	pid, ok := d.PIDs[old.Name]
	if !ok {
		return DrillResult{}, fmt.Errorf("the state file has no pid for the leader %s", old.Name)
	}
	name := d.ProcessName
	if name == "" {
		name = "onionbalance"
	}
	if err := checkProcessName(pid, name); err != nil {
		return DrillResult{}, fmt.Errorf("leader %s: %w", old.Name, err)
	}
	rep := DrillResult{Mode: "kill", OldLeader: old, PID: pid}
	sig := syscall.SIGKILL
	if pause > 0 {
		rep.Mode, sig = "pause", syscall.SIGSTOP
	}
	rep.SignalAt = clk.Now()
	if err := signal(pid, sig); err != nil {
		return rep, fmt.Errorf("signal %v to %s (pid %d): %w", sig, old.Name, pid, err)
	}
	resumed := false
	resume := func() error {
		if pause == 0 || resumed {
			return nil
		}
		resumed = true
		rep.ResumedAfter = clk.Now().Sub(rep.SignalAt)
		return signal(pid, syscall.SIGCONT)
	}
	defer resume() // never leave the process stopped

	err = d.until(ctx, clk, func(now time.Time) bool {
		if rep.ElectedAfter == 0 {
			cur, err := currentLeader(ctx, d.KV, d.Keys, d.Timeout)
			// An error or no leader: etcd may be busy electing; keep polling.
			if err == nil && cur.Epoch != old.Epoch {
				rep.NewLeader, rep.ElectedAfter = cur, now.Sub(rep.SignalAt)
			}
		}
		if rep.PublishedAfter == 0 {
			if rec, ok := d.laterPublish(ctx, old.Epoch); ok {
				rep.PublishedAfter, rep.PublishedBy, rep.RevisionCounter = now.Sub(rep.SignalAt), rec.Node, rec.RevisionCounter
			}
		}
		return rep.ElectedAfter > 0 && rep.PublishedAfter > 0
	})
	if err != nil {
		return rep, fmt.Errorf("waiting for a new leader to publish after %s %s: %w", rep.Mode, old.Name, err)
	}
	if pause == 0 {
		return rep, nil
	}
	if wait := pause - clk.Now().Sub(rep.SignalAt); wait > 0 && !clock.Sleep(ctx, clk, wait) {
		return rep, ctx.Err()
	}
	if err := resume(); err != nil {
		return rep, fmt.Errorf("SIGCONT to %s (pid %d): %w", old.Name, pid, err)
	}
	resumedAt := clk.Now()
	st := store.New(d.KV, d.Keys, nil, d.Timeout)
	err = d.until(ctx, clk, func(now time.Time) bool {
		rec, err := st.Node(ctx, old.Name)
		if err != nil || rec.Heartbeat.Before(resumedAt) || rec.Role != record.RoleFollower {
			return false
		}
		rep.RejoinedAfter = now.Sub(rep.SignalAt)
		return true
	})
	if err != nil {
		return rep, fmt.Errorf("waiting for %s to rejoin as follower: %w", old.Name, err)
	}
	return rep, nil
}

// laterPublish returns a publish record written under an epoch after epoch, if any.
func (d Drill) laterPublish(ctx context.Context, epoch int64) (record.Publish, bool) {
	st := store.New(d.KV, d.Keys, nil, d.Timeout)
	svcs, err := StoredServices(ctx, d.KV, d.Keys, d.Timeout)
	if err != nil {
		return record.Publish{}, false
	}
	for _, svc := range svcs {
		recs, err := st.PublishedAll(ctx, svc)
		if err != nil && !errors.Is(err, record.ErrBad) {
			continue // the good records come with an ErrBad error
		}
		for _, r := range recs {
			if r.Epoch > epoch {
				return r, true
			}
		}
	}
	return record.Publish{}, false
}

// until calls cond every poll interval until it returns true, or ctx ends.
func (d Drill) until(ctx context.Context, clk clock.Clock, cond func(now time.Time) bool) error {
	poll := d.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	t := clk.NewTicker(poll)
	defer t.Stop()
	for {
		if cond(clk.Now()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

// checkProcessName refuses a pid whose argv[0] does not contain name (a stale state file must not
// make the drill signal a stranger).
func checkProcessName(pid int, name string) error {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if !bytes.Contains(argv0, []byte(name)) {
		return fmt.Errorf("pid %d runs %q, not %s", pid, argv0, name)
	}
	return nil
}
