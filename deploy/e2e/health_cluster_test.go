package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

// TestHealthCluster runs backend health on 3 obhosts (cluster_harness_test.go) with three
// backends: every node probes a share of the backends (counted from the probe reports in etcd), a
// backend killed with SIGKILL leaves the master descriptor on every responsible HSDir, and after a
// kill -9 of the leader the new leader keeps it out of every descriptor it uploads.
func TestHealthCluster(t *testing.T) {
	t.Parallel()
	c := clSetUpWith(t, clOptions{Backends: []string{"hcb1", "hcb2", "hcb3"}, HostConfig: healthYAML()})
	ctx := t.Context()
	fleet := c.fleet()
	var addrs []string
	for _, b := range fleet.backends {
		addrs = append(addrs, onion56(b.onion))
	}
	if err := waitProbedAlive(ctx, c.kv, c.keys, addrs, 3*time.Minute); err != nil {
		t.Fatal(err)
	}

	c.phase("spread", "every node probes a share of the backends", func() {
		t := c.t
		// Every node probes some backends each round; over three rounds the assignment rotates.
		time.Sleep(3 * hInterval)
		reports, err := probeReports(ctx, c.kv, c.keys)
		if err != nil {
			t.Fatal(err)
		}
		perNode, outcomes := probeCounts(reports)
		probedBy := map[string][]string{}
		for _, h := range c.hosts {
			counts := perNode[h.name]
			total := 0
			for b, k := range counts {
				total += k
				probedBy[b] = append(probedBy[b], h.name)
			}
			t.Logf("HEALTH spread: %s's probe report holds %d results: %v", h.name, total, counts)
			if total == 0 {
				t.Errorf("%s probed nothing (reports: %d nodes)", h.name, len(reports))
			}
		}
		t.Logf("outcomes in the reports: %v", outcomes)
		for _, b := range addrs {
			if len(probedBy[b]) < 2 {
				t.Errorf("backend %s probed by %v only, want at least 2 of the 3 nodes over the rounds", b, probedBy[b])
			}
		}
	})

	victim := fleet.backends[len(fleet.backends)-1]
	addr := onion56(victim.onion)
	owners, err := fleet.introOwners(ctx, c.client, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for a, o := range owners {
		if o == victim.name {
			gone = append(gone, a)
		}
	}
	if len(gone) == 0 {
		t.Fatalf("no intro points known for %s", victim.name)
	}

	c.phase("backend-killed", "a backend killed leaves the master descriptor", func() {
		t := c.t
		killedAt := time.Now()
		if err := killNetworkNode(ctx, c.n, victim.name); err != nil {
			t.Fatal(err)
		}
		goneAt, last, err := fleet.waitIntroPointsGone(ctx, c.client, victim, gone, killedAt.Add(2*hGoneBound), 5*time.Second, "")
		if err != nil {
			t.Fatal(err)
		}
		if goneAt.IsZero() {
			t.Fatalf("%s's intro points still on the HSDirs %s after the kill: %s", victim.name, time.Since(killedAt).Round(time.Second), last)
		}
		took := goneAt.Sub(killedAt)
		t.Logf("HEALTH cluster: backend killed -> its intro points gone from every responsible HSDir: %s", took.Round(time.Second))
		if took > hGoneBound {
			t.Errorf("gone %s after the kill, more than %s", took.Round(time.Second), hGoneBound)
		}
		v, err := c.verdict(ctx, addr)
		if err != nil || v.State != record.HealthDown {
			t.Errorf("etcd verdict on %s: %+v, %v; want down", addr, v, err)
		} else {
			t.Logf("verdict by %s (epoch %d): down since %s: %s", v.Node, v.Epoch, v.Since.Format(time.TimeOnly), v.Reason)
		}
	})
	c.phase("leader-killed", "the new leader keeps the dead backend out", func() {
		t := c.t
		rep := c.drill("--kill")
		t.Logf("leader %s (epoch %d) killed; %s (epoch %d) elected after %s", rep.OldLeader.Name, rep.OldLeader.Epoch,
			rep.NewLeader.Name, rep.NewLeader.Epoch, rep.ElectedAfter.Round(time.Millisecond))
		// Over three refresh intervals: nothing the new leader uploads carries the dead backend, by
		// its publish records in etcd and by the descriptors the HSDirs serve.
		watchUntil := time.Now().Add(3 * 15 * time.Second)
		clean, records := 0, 0
		for time.Now().Before(watchUntil) {
			for slot, r := range c.published() {
				if r.Epoch <= rep.OldLeader.Epoch {
					continue
				}
				records++
				for hsdir, bs := range r.Backends {
					if slices.Contains(bs, addr) {
						t.Errorf("publish record %s… of epoch %d (%s): the descriptor uploaded to %s carries the dead backend %s",
							slot[:min(16, len(slot))], r.Epoch, r.Node, hsdir, victim.name)
					}
				}
			}
			live, err := fleet.introOwners(ctx, c.client, victim)
			if err == nil {
				for _, a := range gone {
					live[a] = victim.name
				}
				var mc masterCheck
				mc, err = fleet.checkMaster(ctx, c.client, live, "")
				if err == nil && mc.covered[victim.name] {
					err = fmt.Errorf("a responsible HSDir serves %s's intro points again", victim.name)
					t.Error(err)
				}
			}
			if err != nil {
				t.Logf("+%s: %v", time.Since(rep.SignalAt).Round(time.Second), err)
			} else {
				clean++
			}
			time.Sleep(5 * time.Second)
		}
		if records == 0 {
			t.Errorf("the new leader %s wrote no publish record within %s of the kill", rep.NewLeader.Name, time.Since(rep.SignalAt).Round(time.Second))
		}
		if clean == 0 {
			t.Errorf("no clean fetch of the master descriptor after the leader kill")
		}
		v, err := c.verdict(ctx, addr)
		if err != nil || v.State != record.HealthDown {
			t.Errorf("etcd verdict on %s after the leader kill: %+v, %v; want still down", addr, v, err)
		}
		t.Logf("HEALTH cluster: after the leader kill, %d publish records of the new epoch and %d clean fetches from the HSDirs, none with the dead backend; status:\n%s",
			records, clean, c.run("status", "--etcd-endpoints", c.eps))
	})
}

// fleet returns the cluster as a deployment for the checks of obhost_checks_test.go, which need
// only the network, the master address and the backends' names and addresses.
func (c *clCluster) fleet() *deployment {
	d := &deployment{n: c.n, name: "cluster", master: c.master + ".onion"}
	for _, b := range c.backends {
		d.backends = append(d.backends, &backend{name: b.Name, onion: b.Onion, answer: b.Name})
	}
	return d
}

// verdict reads the leader's health verdict on backend addr from etcd.
func (c *clCluster) verdict(ctx context.Context, addr string) (record.BackendHealth, error) {
	var v record.BackendHealth
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.kv.Get(ctx, c.keys.BackendHealth(addr))
	if err != nil {
		return v, err
	}
	if len(resp.Kvs) == 0 {
		return v, fmt.Errorf("no key %s", c.keys.BackendHealth(addr))
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return v, fmt.Errorf("%s: %w", c.keys.BackendHealth(addr), err)
	}
	return v, nil
}
