package store

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the key prefix used when none is configured.
const DefaultPrefix = "/onionbalance"

// Keys is the etcd key schema under one prefix:
//
//	<prefix>/config                                  services and instances (JSON)
//	<prefix>/services/<svc>/key                      sealed master key of <svc>
//	<prefix>/services/<svc>/instances/<instance>     record.Instance
//	<prefix>/services/<svc>/published/<slot>         record.Publish
//	<prefix>/election/<lease-id>                     election candidates (value = node name)
//	<prefix>/nodes/<name>                            record.Node, lease-bound
//	<prefix>/step-down/<name>                        record.StepDown, lease-bound
//
// <svc> and <instance> are onion addresses without ".onion". A published
// slot is the hex of the blinded public key the descriptor was published
// under (see record.BlindedKeyHex): HSDirs keep one revision counter per blinded
// key, so one record per blinded key carries exactly the counter that must
// keep growing, and the two descriptors of a service (current and next time
// period) never share one. Records of old periods are pruned by the
// publisher.
type Keys struct {
	prefix string
}

// NewKeys returns the schema under prefix, which must start with "/", must
// not end with "/" and must not be "/" alone.
func NewKeys(prefix string) (Keys, error) {
	switch {
	case !strings.HasPrefix(prefix, "/"):
		return Keys{}, fmt.Errorf("etcd prefix %q must start with /", prefix)
	case strings.HasSuffix(prefix, "/"):
		return Keys{}, fmt.Errorf("etcd prefix %q must not end with /", prefix)
	case strings.Contains(prefix, "//"):
		return Keys{}, fmt.Errorf("etcd prefix %q has an empty segment", prefix)
	}
	return Keys{prefix: prefix}, nil
}

// Prefix returns the prefix without a trailing slash.
func (k Keys) Prefix() string { return k.prefix }

// All returns the prefix with a trailing slash: every key of the schema
// starts with it.
func (k Keys) All() string { return k.prefix + "/" }

// Config is the key of the cluster configuration.
func (k Keys) Config() string { return k.prefix + "/config" }

// Services is the prefix of every per-service key.
func (k Keys) Services() string { return k.prefix + "/services/" }

// ServiceKey is the key of the sealed master key of service svc.
func (k Keys) ServiceKey(svc string) string { return k.Services() + svc + "/key" }

// Instances is the prefix of the instance records of service svc.
func (k Keys) Instances(svc string) string { return k.Services() + svc + "/instances/" }

// Instance is the key of the record of instance inst of service svc.
func (k Keys) Instance(svc, inst string) string { return k.Instances(svc) + inst }

// PublishedPrefix is the prefix of the publish records of service svc.
func (k Keys) PublishedPrefix(svc string) string { return k.Services() + svc + "/published/" }

// Published is the key of the publish record of service svc in slot.
func (k Keys) Published(svc, slot string) string { return k.PublishedPrefix(svc) + slot }

// Election is the prefix passed to concurrency.NewElection (which adds "/").
func (k Keys) Election() string { return k.prefix + "/election" }

// Nodes is the prefix of the node heartbeat records.
func (k Keys) Nodes() string { return k.prefix + "/nodes/" }

// Node is the key of the heartbeat record of node name.
func (k Keys) Node(name string) string { return k.Nodes() + name }

// StepDowns is the prefix of the step-down requests.
func (k Keys) StepDowns() string { return k.prefix + "/step-down/" }

// StepDown is the key of a request asking node name to resign the
// leadership.
func (k Keys) StepDown(name string) string { return k.StepDowns() + name }

// Health is the prefix of the backend-health records.
func (k Keys) Health() string { return k.prefix + "/health/" }

// ProbeReports is the prefix of the nodes' probe reports.
func (k Keys) ProbeReports() string { return k.Health() + "probes/" }

// ProbeReport is the key of the probe report of node name (lease-bound).
func (k Keys) ProbeReport(name string) string { return k.ProbeReports() + name }

// BackendHealths is the prefix of the leader's health verdicts.
func (k Keys) BackendHealths() string { return k.Health() + "backends/" }

// BackendHealth is the key of the leader's health verdict on backend inst.
func (k Keys) BackendHealth(inst string) string { return k.BackendHealths() + inst }

// ParseInstance splits an instance record key into the service and instance
// addresses. ok is false for any other key.
func (k Keys) ParseInstance(key string) (svc, inst string, ok bool) {
	return k.parseServiceChild(key, "/instances/")
}

// ParsePublished splits a publish record key into the service address and
// the slot. ok is false for any other key.
func (k Keys) ParsePublished(key string) (svc, slot string, ok bool) {
	return k.parseServiceChild(key, "/published/")
}

func (k Keys) parseServiceChild(key, kind string) (svc, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, k.Services())
	if !ok {
		return "", "", false
	}
	svc, name, ok = strings.Cut(rest, kind)
	if !ok || svc == "" || name == "" || strings.Contains(svc, "/") || strings.Contains(name, "/") {
		return "", "", false
	}
	return svc, name, true
}

// CheckName reports whether s can be used as one key segment (a service or
// instance address, a node name or a slot).
func CheckName(s string) error {
	if s == "" {
		return fmt.Errorf("empty key segment")
	}
	if strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("key segment %q contains / or NUL", s)
	}
	return nil
}
