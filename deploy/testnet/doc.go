// Package testnet starts and stops a private Tor network on 127.0.0.1 for the
// demo, the end-to-end tests, benchmarks and failover drills.
//
// A network is three directory authorities, five relays and one client, all
// voted HSDir, Guard and Exit by TestingTorNetwork options, with a 20 s voting
// interval. Onion services (one tor process each, in front of a tiny HTTP server
// that answers with its own name) can be added, plain or in OnionBalance
// instance mode for a given master address.
//
// Every started process is recorded as a Node in DIR/testnet.json, so that a
// later process (the testnet command's down and status) can find and stop
// exactly what was started. A node kind is a Role plus the argv that starts it:
// adding a kind (an OnionBalance host, etcd) means adding a Role and a function
// that builds its Node; stopping, restarting and status are generic.
//
// End-to-end test packages share one network per test binary through Shared.
package testnet
