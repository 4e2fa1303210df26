// Package store is obcluster's access to etcd: the key schema (Keys), typed
// reads and writes of the JSON records kept there (their types are in
// store/record, which does not import etcd),
// sealed secrets for the service master keys (KEK, Sealer), watches that
// survive disconnections and compactions (Watch), connecting to an external
// cluster (Connect) and running a single-member etcd inside the process
// (StartEmbedded), so that a single host is simply a cluster of one.
//
// Every value except sealed secrets is JSON, readable with
// `etcdctl get --prefix /onionbalance/`. Store does not decide who may
// write: leader-only writes are returned as clientv3 operations for the
// cluster package to commit through its fence.
package store
