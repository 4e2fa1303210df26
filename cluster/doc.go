// Package cluster decides which obhost leads and keeps a leader that has lost
// its leadership from acting on it.
//
// Election runs the candidacy on an etcd lease (a concurrency session with
// TTL, default 10 s), campaigns under the session's context, and takes the
// create revision of its election key as the epoch of its leadership. Every
// leader write goes through a Fence: a transaction guarded by that create
// revision, so a deposed leader's writes fail with ErrNotLeader and it steps
// down at once. Uploads to the Tor network cannot be fenced by etcd, so the
// fence also self-fences: MayPublish refuses once the send time of the last
// keepalive etcd answered is older than TTL minus a margin, before etcd can
// have given the leadership to anyone else, re-checks the guard, and returns
// that deadline to bound the upload's context with.
//
// The publisher sees only its own small interface (publisher.Leadership:
// IsLeader and MayPublish), which *Election implements. A single host is a
// cluster of one on its embedded etcd and runs exactly the same code.
//
// Who leads is looked up in one place (leader.go): the candidate with the lowest
// create revision under the election prefix. Candidates and Leader serve
// Election.Leader, the election's own watch and the operator commands.
//
// Node keeps a lease-bound heartbeat record per obhost for `status`.
package cluster
