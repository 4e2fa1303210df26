package record

import (
	"time"
)

// Node roles, as reported in Node.Role.
const (
	RoleLeader   = "leader"
	RoleFollower = "follower"
)

// Node is the heartbeat of one obhost. It is bound to a lease, so it
// disappears when the node stops refreshing it.
type Node struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// TorBootstrap is tor's bootstrap progress in percent.
	TorBootstrap int `json:"tor_bootstrap"`
	// TorState is a short summary of tor's state ("done", "starting", ...).
	TorState string `json:"tor_state,omitempty"`
	// Role is RoleLeader or RoleFollower.
	Role string `json:"role,omitempty"`
	// Epoch is the node's leadership epoch while it is leader.
	Epoch     int64     `json:"epoch,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat"`
}
