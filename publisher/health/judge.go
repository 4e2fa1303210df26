package health

import (
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
	// TODO(#16): implemented in the next commit.
	out := Verdict{Health: map[string]record.BackendHealth{}}
	for _, b := range in.Backends {
		h, ok := in.Previous[b.Address]
		if !ok {
			h = record.BackendHealth{Address: b.Address, State: record.HealthUp, Since: in.Now}
		}
		out.Health[b.Address] = h
	}
	return out
}

// Exclude returns the backends of one service that leave its descriptor on probe evidence, with the
// reason for each: the down ones, at most rules.MaxDown(len(backends)) of them, those down the
// longest first. kept names the down backends left in because of the cap, with the reason.
func Exclude(backends []string, health map[string]record.BackendHealth, rules Rules) (excluded, kept map[string]string) {
	// TODO(#16): implemented in the next commit.
	return map[string]string{}, map[string]string{}
}
