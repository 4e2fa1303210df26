// Package obhosttest holds the fixtures of tests of obhost and of the commands over it
// (cmd/onionbalance), in the style of store/storetest: exported, documented, each taking a
// testing.TB and cleaning up after the test.
//
//	cluster.go    Cluster: a config file with one service, its master key, a key-encryption key file
//	              and a running embedded etcd (what cluster init and set-config work on)
//	candidate.go  Candidate: an election candidate over the etcd, with what the test runs beside it
//	helpers.go    OnionAddress, DefaultKeys, NoEnv, WaitFor
//
// It does not import obhost, so obhost's own tests can use it.
package obhosttest
