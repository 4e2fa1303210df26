package record

import "time"

// Health states of a backend (BackendHealth.State).
const (
	HealthUp   = "up"
	HealthDown = "down"
)

// ProbeReport is one node's recent probe results
// (<prefix>/health/probes/<node>), written by that node after each of its
// probe rounds under a lease of its own, so that it disappears with the
// node. The leader judges the backends' health from every node's report.
type ProbeReport struct {
	Node string `json:"node"`
	// At is when the report was written.
	At time.Time `json:"at"`
	// IntervalMS is the prober's round length in milliseconds: results carry
	// the round they belong to (their time divided by the interval).
	IntervalMS int64 `json:"interval_ms"`
	// TorReady is false when the node's own tor cannot probe (not
	// bootstrapped, no SOCKS listener): its results then do not count.
	TorReady bool `json:"tor_ready"`
	// Results are the node's most recent probes, oldest first, a bounded
	// number per backend.
	Results []ProbeResult `json:"results"`
}

// ProbeResult is one connection attempt through tor to a backend.
type ProbeResult struct {
	// Backend is the backend's address without ".onion".
	Backend string `json:"backend"`
	Port    int    `json:"port"`
	// Round is the prober's round number: At divided by the report's
	// interval, so that results of one round can be told apart.
	Round int64     `json:"round"`
	At    time.Time `json:"at"`
	// Outcome is a health.Outcome ("connected", "intro-failed", ...).
	Outcome string `json:"outcome"`
	// LatencyMS is how long the attempt took, in milliseconds.
	LatencyMS int64 `json:"latency_ms"`
	// Detail is a short human-readable reason (the SOCKS reply, an error).
	Detail string `json:"detail,omitempty"`
}

// BackendHealth is the leader's verdict on one backend
// (<prefix>/health/backends/<instance>), written fenced when it changes, so
// that a new leader carries it on instead of re-adding a dead backend.
type BackendHealth struct {
	Address string `json:"address"`
	// State is HealthUp or HealthDown.
	State string `json:"state"`
	// Since is when State was entered.
	Since time.Time `json:"since"`
	// Reason says why, for status ("3 failures from 2 nodes over 62s:
	// intro-failed").
	Reason string `json:"reason,omitempty"`
	// DownRevision is the backend's descriptor revision counter when it went
	// down: a newer descriptor is probed at once and one success brings it
	// back.
	DownRevision uint64 `json:"down_revision,omitempty"`
	// LastAlive is the time of the last probe that showed the backend's tor
	// alive.
	LastAlive time.Time `json:"last_alive,omitzero"`
	// Epoch and Node identify the leadership that wrote the record.
	Epoch int64  `json:"epoch"`
	Node  string `json:"node,omitempty"`
}
