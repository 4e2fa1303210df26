// Package obhost runs one obhost: the wiring of the parts that make a running onionbalance node.
// cmd/onionbalance parses flags and prints; everything the running process does is here.
//
// Start connects the local tor (torctl) and etcd (an external cluster, or the embedded single member
// under the data directory), then starts, each in its own goroutine, the election and the heartbeat
// (cluster), the publisher with its state in etcd, and the helpers below. Stop ends them in reverse
// order; a leader resigns on the way, so another node takes over at once.
//
// Files, one concept each:
//
//	config.go              Config, DefaultConfig and Validate: the file's settings over the parts' defaults
//	daemon.go              Daemon: Start, Stop, Reload (SIGHUP), Failed, Status
//	services.go            ServicesFromFile: the config file's services, with their master keys loaded
//	tor.go                 the tor control connection (first of the candidate addresses that answers)
//	etcd.go                the etcd connection, or the embedded etcd and its endpoints file
//	state.go               fencedRecords: the publisher's records in etcd; every leader write fenced
//	torwatch.go            tor's bootstrap in the heartbeat; a leader whose tor is dead hands over
//	stepdown.go            graceful hand-over: the daemon's side and StepDown for the command
//	drill.go               Drill: kill or pause the leader of a test cluster and measure the takeover
//	clusterconfig.go       the <prefix>/config record: parse, validate, authenticate (MAC), NewSealer
//	clusterconfig_push.go  PushClusterConfig: what cluster init and set-config write
//	clientauth.go          restricted discovery in <prefix>/config: client public keys, sealed backend keys
//	configfollow.go        a node without services in its file follows <prefix>/config live
//	health.go              backend health: the prober (every node) and the judge (the leader)
//	metrics.go             the Prometheus collectors and the /metrics server
//	statussocket.go        the Python-compatible status socket
//	clusterstatus.go       GatherStatus: the cluster's state as etcd holds it, for onionbalance status
//
// The config file format itself (keys, defaults, validation) is obhost/config; the fixtures of its
// tests and of the commands' tests are obhost/obhosttest.
package obhost
