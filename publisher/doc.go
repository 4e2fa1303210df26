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
//
// Files, in the order a descriptor goes through them (docs/architecture.md has the whole path):
//
//	manager.go      Manager, Config: the event loop, leadership changes, loading the shared records
//	service.go      a service and its backends; the publish state per blinded key (descState)
//	reconfigure.go  live changes of the services
//	fetch.go        HSFETCH of the backends' descriptors and their answers
//	backend.go      a backend's verified intro points and its record.Instance
//	plan.go         PlanDescriptors (pure): intro points per descriptor and per HSDir
//	decide.go       Decide, NextRevision (pure): whether and where to publish, the revision counter
//	probe.go        asking the HSDirs which revision counter they hold before a first upload
//	publish.go      publishDescriptor: plan, decide, encode, recordRevision (fenced), upload, remember
//	uploads.go      settling tor's upload answers into the publish record
//	prune.go        deleting records no longer needed
//	status.go       Status, for the status socket, the status command and metrics
//	interfaces.go   Tor, Records, Leadership: what the Manager needs from the outside
//
// Test doubles of Tor, Records and Leadership are in publisher/publishertest.
package publisher
