// Package scale measures how the leader's work grows with the number of services: the full cycle
// (fetch every backend, build and upload every changed descriptor, record the outcome in etcd) on the
// fake tor (publisher/torctl/torctltest) with tor-like reply latencies over a real embedded etcd, and
// a failover of a two-node cluster. Its tests run only with OB_SCALE=1; bench/run -scale runs them and
// writes their tables into bench/RESULTS.md. See bench/README.md.
package scale
