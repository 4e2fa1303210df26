package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/obcluster/obcluster/obhost"
)

// drillState is the file naming the obhost processes of a test cluster, written by whatever started
// them (deploy scripts, the e2e tests): {"pids": {"ob1": 1234, ...}}.
type drillState struct {
	PIDs map[string]int `json:"pids"`
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
	d := obhost.Drill{KV: cli, Keys: keys, Timeout: cfg.Cluster.Etcd.RequestTimeout.D(), PIDs: state.PIDs}
	rep, err := d.Run(ctx, pause)
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
