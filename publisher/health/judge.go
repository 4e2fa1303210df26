package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

// Backend is one backend as the leader judges it.
type Backend struct {
	Address string // without ".onion"
	// Revision is the revision counter of its current descriptor (0: none yet).
	Revision uint64
	// Rules are those of the first service (in configuration order) that lists it.
	Rules Rules
}

// Input is everything a judgement depends on.
type Input struct {
	Now    time.Time
	Config Config
	// Backends are the backends of the services whose rules enable probing.
	Backends []Backend
	// Reports are the probe reports of the nodes (only nodes with a live heartbeat).
	Reports []record.ProbeReport
	// Previous are the verdicts in force, by backend address (from etcd, or the last judgement).
	Previous map[string]record.BackendHealth
}

// Verdict is the outcome of a judgement.
type Verdict struct {
	// Health has one entry per backend of the input, by address.
	Health map[string]record.BackendHealth
	// Changed lists the backends whose State differs from Previous (sorted).
	Changed []string
	// ProbeNow lists down backends whose descriptor is newer than when they went down and that no
	// counted probe has tried since: probe them at once (sorted).
	ProbeNow []string
}

// Judge decides each backend's health from the nodes' probe results.
//
// A result counts only if its node could probe: the report says its tor is ready, and in the same
// round that node saw at least one backend alive (a node whose tor lost the network sees every
// backend fail; such a round is ignored). A backend goes down after Rules.FailuresToDown counted
// Dead results in a row (no Alive between them) spanning at least Config.MinDownTime, from at least
// two nodes when more than one node's results count. A down backend comes back after
// Rules.SuccessesToUp Alive results in a row, or one Alive result after its descriptor revision
// rose above DownRevision.
func Judge(in Input) Verdict {
	counted, nodes := countedResults(in.Reports)
	out := Verdict{Health: make(map[string]record.BackendHealth, len(in.Backends))}
	for _, b := range in.Backends {
		prev, ok := in.Previous[b.Address]
		if !ok || (prev.State != record.HealthUp && prev.State != record.HealthDown) {
			prev = record.BackendHealth{Address: b.Address, State: record.HealthUp, Since: in.Now}
		}
		h := judgeOne(in, b, prev, counted[b.Address], nodes)
		out.Health[b.Address] = h
		if ok && h.State != in.Previous[b.Address].State {
			out.Changed = append(out.Changed, b.Address)
		}
		if h.State == record.HealthDown && b.Revision > h.DownRevision {
			out.ProbeNow = append(out.ProbeNow, b.Address)
		}
	}
	slices.Sort(out.Changed)
	slices.Sort(out.ProbeNow)
	return out
}

// probe is one counted result with its node.
type probe struct {
	node string
	res  record.ProbeResult
	ev   Evidence
}

// countedResults returns the results that count, by backend, oldest first, and when each node last
// had a counted round. A result counts when its report says the node's tor is ready, it is Alive or
// Dead evidence, and its node saw some backend alive in the same round.
func countedResults(reports []record.ProbeReport) (map[string][]probe, map[string]time.Time) {
	byBackend := map[string][]probe{}
	nodes := map[string]time.Time{}
	for _, r := range reports {
		if !r.TorReady {
			continue
		}
		aliveRounds := map[int64]bool{}
		for _, res := range r.Results {
			if Outcome(res.Outcome).Evidence() == Alive {
				aliveRounds[res.Round] = true
			}
		}
		for _, res := range r.Results {
			ev := Outcome(res.Outcome).Evidence()
			if ev == Inconclusive || !aliveRounds[res.Round] {
				continue
			}
			byBackend[res.Backend] = append(byBackend[res.Backend], probe{node: r.Node, res: res, ev: ev})
			if res.At.After(nodes[r.Node]) {
				nodes[r.Node] = res.At
			}
		}
	}
	for _, ps := range byBackend {
		slices.SortStableFunc(ps, func(a, b probe) int {
			if c := a.res.At.Compare(b.res.At); c != 0 {
				return c
			}
			return strings.Compare(a.node, b.node)
		})
	}
	return byBackend, nodes
}

// horizon is how far back results are considered: long enough for a full run of failures or
// successes, with a few rounds to spare.
func horizon(c Config, r Rules) time.Duration {
	return c.MinDownTime + time.Duration(max(r.FailuresToDown, r.SuccessesToUp)+3)*c.Interval
}

func judgeOne(in Input, b Backend, prev record.BackendHealth, all []probe, lastCounted map[string]time.Time) record.BackendHealth {
	since := in.Now.Add(-horizon(in.Config, b.Rules))
	var ps []probe
	for _, p := range all {
		if !p.res.At.Before(since) {
			ps = append(ps, p)
		}
	}
	h := prev
	h.Address = b.Address
	for _, p := range all {
		if p.ev == Alive && p.res.At.After(h.LastAlive) {
			h.LastAlive = p.res.At
		}
	}
	// The trailing run: the latest results that agree, back to the last one that disagrees.
	run := 0
	for i := len(ps) - 1; i >= 0 && ps[i].ev == ps[len(ps)-1].ev; i-- {
		run++
	}
	if run == 0 {
		return h
	}
	tail := ps[len(ps)-run:]
	last := tail[len(tail)-1]
	switch {
	case h.State == record.HealthUp && last.ev == Dead:
		need := 1
		active := 0
		for _, t := range lastCounted {
			if !t.Before(since) {
				active++
			}
		}
		if active > 1 {
			need = 2
		}
		span := last.res.At.Sub(tail[0].res.At)
		nodes := distinctNodes(tail)
		if run >= b.Rules.FailuresToDown && span >= in.Config.MinDownTime && nodes >= need {
			h.State, h.Since, h.DownRevision = record.HealthDown, in.Now, b.Revision
			h.Reason = fmt.Sprintf("%d failures from %d %s over %s (last: %s)", run, nodes, plural(nodes, "node"),
				span.Round(time.Second), last.res.Outcome)
		}
	case h.State == record.HealthDown && last.ev == Alive:
		switch {
		case run >= b.Rules.SuccessesToUp:
			h.State, h.Since, h.DownRevision = record.HealthUp, in.Now, 0
			h.Reason = fmt.Sprintf("%d successful %s in a row", run, plural(run, "probe"))
		case b.Revision > h.DownRevision && last.res.At.After(h.Since):
			h.Reason = fmt.Sprintf("new descriptor (revision %d) and a successful probe", b.Revision)
			h.State, h.Since, h.DownRevision = record.HealthUp, in.Now, 0
		}
	}
	return h
}

func distinctNodes(ps []probe) int {
	seen := map[string]bool{}
	for _, p := range ps {
		seen[p.node] = true
	}
	return len(seen)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Exclude returns the backends of one service that leave its descriptor on probe evidence, with the
// reason for each: the down ones, at most rules.MaxDown(len(backends)) of them, those down the
// longest first. kept names the down backends left in because of the cap, with the reason. With the
// rules disabled nothing is excluded.
func Exclude(backends []string, health map[string]record.BackendHealth, rules Rules) (excluded, kept map[string]string) {
	excluded, kept = map[string]string{}, map[string]string{}
	if !rules.Enabled {
		return excluded, kept
	}
	all := dedupeSorted(backends)
	var down []record.BackendHealth
	for _, a := range all {
		if h, ok := health[a]; ok && h.State == record.HealthDown {
			down = append(down, h)
		}
	}
	slices.SortStableFunc(down, func(a, b record.BackendHealth) int { return a.Since.Compare(b.Since) })
	limit := rules.MaxDown(len(all))
	for i, h := range down {
		if i < limit {
			excluded[h.Address] = "down: " + h.Reason
			continue
		}
		kept[h.Address] = fmt.Sprintf("down (%s) but kept: at most %d of %d backends leave on probe evidence (max-down-fraction %v)",
			h.Reason, limit, len(all), rules.MaxDownFraction)
	}
	return excluded, kept
}
