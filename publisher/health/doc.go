// Package health decides which backends are alive from probes made through tor, and which of them
// may leave a master descriptor. It is pure: no I/O, no clock; the daemon (obhost) probes, stores
// the results in etcd and calls these functions with the time.
//
// A probe is a connection through tor to backend.onion:port on fresh circuits. Its Outcome says
// whether the backend's tor answered (Alive), whether the onion service failed on the way
// (descriptor, introduction, rendezvous: Dead), or whether the probe tells nothing (Inconclusive).
//
// Files, one concept each:
//
//	outcome.go  Outcome, Evidence, and the mapping from tor's (extended) SOCKS5 replies
//	config.go   Config (the cluster's probing) and Rules (per service), with defaults and validation
//	assign.go   Assign: which backends a node probes in a round, spread over the live nodes
//	judge.go    Judge: the leader's verdict from every node's reports; Exclude: the per-service cap
package health
