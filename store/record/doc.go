// Package record holds the JSON records obcluster keeps in etcd, as plain Go
// types with no etcd dependency, so that the publisher (and anyone reading
// the records) can use them without pulling in the etcd client or server.
//
// Files:
//
//	config.go    ClusterConfig, ClusterService, ClusterInstance: the services of a
//	             cluster (<prefix>/config), authenticated with a MAC by obhost
//	instance.go  Instance, IntroPoint: the last verified intro set of a backend
//	             (<prefix>/services/<svc>/instances/<instance>)
//	publish.go   Publish, UploadResult: what was published under one blinded key
//	             (<prefix>/services/<svc>/published/<blinded-key-hex>)
//	node.go      Node: the lease-bound heartbeat of one obhost (<prefix>/nodes/<name>)
//	stepdown.go  StepDown: an operator's hand-over request (<prefix>/step-down/<name>)
//	errors.go    ErrBad, the sentinel for a record that does not decode
//	keys.go      ServiceKeys (the records a service has, by key) and BlindedKeyHex
//
// The key schema and the reads and writes are in package store; the field
// names here are stored data: never rename a JSON tag. docs/etcd-layout.md
// documents every field (deploy/deploytest checks it against these types).
// To add a record: add its type here, its key and access in store, and its
// section in docs/etcd-layout.md.
package record
