package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// drillState is the file naming the obhost processes of a test cluster, written by whatever started
// them (deploy scripts, the e2e tests): {"pids": {"ob1": 1234, ...}}.
type drillState struct {
	PIDs map[string]int `json:"pids"`
}

// drillReport is what a drill measured. Durations are counted from the signal.
type drillReport struct {
	Mode      string       `json:"mode"` // "kill" or "pause"
	OldLeader leaderStatus `json:"old_leader"`
	PID       int          `json:"pid"`
	SignalAt  time.Time    `json:"signal_at"`
	NewLeader leaderStatus `json:"new_leader"`
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

// runClusterDrill kills (SIGKILL) or pauses (SIGSTOP, then SIGCONT) the leader of a running test
// cluster and reports how long the takeover took.
func runClusterDrill(ctx context.Context, args []string, e env) int {
	var o opFlags
	var kill, asJSON bool
	var pause time.Duration
	var statePath string
	fs := newFlagSet("onionbalance cluster drill", e,
		"onionbalance cluster drill --state FILE (--kill | --pause DURATION) [-c config.yaml | --etcd-endpoints URL,...] [--json]")
	o.register(fs, e.getenv)
	fs.BoolVar(&kill, "kill", false, "kill the leader with SIGKILL")
	fs.DurationVar(&pause, "pause", 0, "stop the leader with SIGSTOP for this long (make it longer than the session TTL), then SIGCONT")
	fs.StringVar(&statePath, "state", "", `JSON file naming the obhost processes: {"pids": {"NODE": PID, ...}}`)
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	const cmd = "cluster drill"
	if kill == (pause > 0) || statePath == "" {
		fmt.Fprintln(e.stderr, "onionbalance cluster drill: give --state and exactly one of --kill and --pause")
		return exitUsage
	}
	state, err := readDrillState(statePath)
	if err != nil {
		return fail(e, cmd, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout+pause)
	defer cancel()
	cfg, cli, keys, err := o.open(ctx)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer cli.Close()
	d := drill{kv: cli, keys: keys, timeout: cfg.Cluster.Etcd.RequestTimeout.D(), pids: state.PIDs, signal: syscall.Kill}
	rep, err := d.run(ctx, pause)
	if err != nil {
		return fail(e, cmd, err)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fail(e, cmd, err)
		}
		return exitOK
	}
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	fmt.Fprintf(e.stdout, "%s %s (pid %d, epoch %d): %s elected after %s (epoch %d); first upload recorded after %s by %s (revision %d)\n",
		map[string]string{"kill": "killed", "pause": "paused"}[rep.Mode], rep.OldLeader.Name, rep.PID, rep.OldLeader.Epoch,
		rep.NewLeader.Name, ms(rep.ElectedAfter), rep.NewLeader.Epoch, ms(rep.PublishedAfter), rep.PublishedBy, rep.RevisionCounter)
	if rep.Mode == "pause" {
		fmt.Fprintf(e.stdout, "resumed after %s; %s rejoined as follower after %s\n", ms(rep.ResumedAfter), rep.OldLeader.Name, ms(rep.RejoinedAfter))
	}
	return exitOK
}

func readDrillState(path string) (drillState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return drillState{}, fmt.Errorf("drill state: %w", err)
	}
	var s drillState
	if err := json.Unmarshal(b, &s); err != nil {
		return drillState{}, fmt.Errorf("drill state %s: %w", path, err)
	}
	if len(s.PIDs) == 0 {
		return drillState{}, fmt.Errorf("drill state %s: no pids", path)
	}
	return s, nil
}

// drill runs one kill or pause against the leader.
type drill struct {
	kv      clientv3.KV
	keys    store.Keys
	timeout time.Duration
	pids    map[string]int
	signal  func(pid int, sig syscall.Signal) error
	poll    time.Duration // default 50ms
}

func (d drill) run(ctx context.Context, pause time.Duration) (drillReport, error) {
	old, err := currentLeader(ctx, d.kv, d.keys, d.timeout)
	if err != nil {
		return drillReport{}, err
	}
	if old == nil {
		return drillReport{}, errors.New("nobody leads the cluster: nothing to drill")
	}
	pid, ok := d.pids[old.Name]
	if !ok {
		return drillReport{}, fmt.Errorf("the state file has no pid for the leader %s", old.Name)
	}
	if err := checkOnionbalancePID(pid); err != nil {
		return drillReport{}, fmt.Errorf("leader %s: %w", old.Name, err)
	}
	rep := drillReport{Mode: "kill", OldLeader: *old, PID: pid}
	sig := syscall.SIGKILL
	if pause > 0 {
		rep.Mode, sig = "pause", syscall.SIGSTOP
	}
	rep.SignalAt = time.Now()
	if err := d.signal(pid, sig); err != nil {
		return rep, fmt.Errorf("signal %v to %s (pid %d): %w", sig, old.Name, pid, err)
	}
	resumed := false
	resume := func() error {
		if pause == 0 || resumed {
			return nil
		}
		resumed = true
		rep.ResumedAfter = time.Since(rep.SignalAt)
		return d.signal(pid, syscall.SIGCONT)
	}
	defer resume() // never leave the process stopped

	err = d.until(ctx, func(now time.Time) (bool, error) {
		if rep.ElectedAfter == 0 {
			cur, err := currentLeader(ctx, d.kv, d.keys, d.timeout)
			if err != nil {
				return false, nil // etcd may be busy electing; keep polling
			}
			if cur != nil && cur.Epoch != old.Epoch {
				rep.NewLeader, rep.ElectedAfter = *cur, now.Sub(rep.SignalAt)
			}
		}
		if rep.PublishedAfter == 0 {
			if rec, ok := d.laterPublish(ctx, old.Epoch); ok {
				rep.PublishedAfter, rep.PublishedBy, rep.RevisionCounter = now.Sub(rep.SignalAt), rec.Node, rec.RevisionCounter
			}
		}
		return rep.ElectedAfter > 0 && rep.PublishedAfter > 0, nil
	})
	if err != nil {
		return rep, fmt.Errorf("waiting for a new leader to publish after %s %s: %w", rep.Mode, old.Name, err)
	}
	if pause == 0 {
		return rep, nil
	}
	if wait := pause - time.Since(rep.SignalAt); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return rep, ctx.Err()
		}
	}
	if err := resume(); err != nil {
		return rep, fmt.Errorf("SIGCONT to %s (pid %d): %w", old.Name, pid, err)
	}
	resumedAt := time.Now()
	st := store.New(d.kv, d.keys, nil, d.timeout)
	err = d.until(ctx, func(now time.Time) (bool, error) {
		rec, err := st.Node(ctx, old.Name)
		if err != nil || rec.Heartbeat.Before(resumedAt) || rec.Role != record.RoleFollower {
			return false, nil
		}
		rep.RejoinedAfter = now.Sub(rep.SignalAt)
		return true, nil
	})
	if err != nil {
		return rep, fmt.Errorf("waiting for %s to rejoin as follower: %w", old.Name, err)
	}
	return rep, nil
}

// laterPublish returns a publish record written under an epoch after epoch, if any.
func (d drill) laterPublish(ctx context.Context, epoch int64) (record.Publish, bool) {
	st := store.New(d.kv, d.keys, nil, d.timeout)
	svcs, err := obhost.StoredServices(ctx, d.kv, d.keys, d.timeout)
	if err != nil {
		return record.Publish{}, false
	}
	for _, svc := range svcs {
		recs, err := st.PublishedAll(ctx, svc)
		if err != nil {
			continue
		}
		for _, r := range recs {
			if r.Epoch > epoch {
				return r, true
			}
		}
	}
	return record.Publish{}, false
}

// until calls cond every poll interval until it returns true or an error, or ctx ends.
func (d drill) until(ctx context.Context, cond func(now time.Time) (bool, error)) error {
	poll := d.poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		done, err := cond(time.Now())
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkOnionbalancePID refuses to signal a pid that is not an onionbalance process (a stale state
// file must not make the drill kill a stranger).
func checkOnionbalancePID(pid int) error {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if !bytes.Contains(argv0, []byte("onionbalance")) {
		return fmt.Errorf("pid %d runs %q, not onionbalance", pid, argv0)
	}
	return nil
}

// leaderStatus names one candidate of the election and its epoch (the create revision of its key).
type leaderStatus = cluster.Candidate

// currentLeader returns the leader, or nil when nobody leads.
func currentLeader(ctx context.Context, kv clientv3.KV, keys store.Keys, timeout time.Duration) (*leaderStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cands, err := cluster.Candidates(ctx, kv, keys)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	return &cands[0], nil
}
