// Package publisher balances onion services: it fetches each backend's descriptor through the local tor,
// keeps each backend's last good intro points, decides when each of a service's two descriptors must be
// (re)published, builds them with a fair share of intro points per live backend (distinct descriptors
// beyond 20 intro points) and uploads them to the responsible HSDirs.
//
// The decisions are pure functions (PlanDescriptors, Decide, NextRevision); Manager is the thin shell that
// drives them from tor events and timers. Manager talks to tor through the Tor interface (implemented by
// publisher/torctl), to the records the cluster shares through Records (etcd, fenced by the leader
// epoch) and asks Leadership before it fetches or uploads, so a single host and a cluster run the same
// code.
package publisher
