package obhost

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
)

// ClusterStatus is what `onionbalance status` reports (its --json output), read from etcd alone: any host that reaches
// the cluster's etcd can ask, and no node has to be up. Master keys are never read into it: only
// whether each is stored, and under which key-encryption key id.
type ClusterStatus struct {
	Prefix string    `json:"prefix"`
	At     time.Time `json:"at"`
	// Leader is the holder of the election key with the lowest create revision; nil when none.
	Leader *cluster.Candidate `json:"leader"`
	// Candidates are every node campaigning, leader first.
	Candidates []cluster.Candidate `json:"candidates"`
	Nodes      []NodeStatus        `json:"nodes"`
	// ConfigRevision is the mod revision of <prefix>/config; 0 when the cluster holds none.
	ConfigRevision int64           `json:"config_revision,omitempty"`
	ConfigError    string          `json:"config_error,omitempty"`
	Services       []ServiceStatus `json:"services"`
}

// NodeStatus is one node's heartbeat.
type NodeStatus struct {
	record.Node
	HeartbeatAge float64 `json:"heartbeat_age_seconds"`
	// Probes summarises the node's probe report (absent: none, e.g. health probes off).
	Probes *NodeProbes `json:"probes,omitempty"`
}

// NodeProbes is a node's probe report in short.
type NodeProbes struct {
	At time.Time `json:"at"`
	// Age is the number of seconds since the report was written.
	Age float64 `json:"age_seconds"`
	// TorReady is false when the node's tor cannot probe: its results do not count.
	TorReady bool `json:"tor_ready"`
	Results  int  `json:"results"`
}

// ProbeStatus is one node's last probe of a backend.
type ProbeStatus struct {
	Node      string    `json:"node"`
	Outcome   string    `json:"outcome"`
	LatencyMS int64     `json:"latency_ms"`
	At        time.Time `json:"at"`
	// Age is the number of seconds since the probe.
	Age    float64 `json:"age_seconds"`
	Detail string  `json:"detail,omitempty"`
	// Counted is false when the node's report says its tor cannot probe.
	Counted bool `json:"counted"`
}

type ServiceStatus struct {
	Address string `json:"address"`
	// InConfig is true when the cluster configuration lists the service.
	InConfig bool `json:"in_config"`
	// Key says how the master key is stored: "sealed", "plaintext", "unknown" (not readable), or, when
	// etcd has none, "config-file" (no cluster configuration in etcd lists the service: its nodes read
	// the key from their config file) or "missing" (the cluster configuration lists it).
	Key         string             `json:"key"`
	KeyKEKID    string             `json:"key_kek_id,omitempty"`
	Backends    []BackendStatus    `json:"backends"`
	Descriptors []DescriptorStatus `json:"descriptors"`
	// BadRecords names the records of the service that do not decode (left out above, as the leader
	// leaves them out).
	BadRecords []string `json:"bad_records,omitempty"`
	// AuthorizedClients is the number of clients of restricted discovery in the configuration (never
	// their keys); 0: anyone who knows the address.
	AuthorizedClients int `json:"authorized_clients,omitempty"`
}

type BackendStatus struct {
	Address    string    `json:"address"`
	Name       string    `json:"name,omitempty"`
	InConfig   bool      `json:"in_config"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Age is the number of seconds since the descriptor was received; absent when never.
	Age                *float64 `json:"age_seconds,omitempty"`
	IntroPoints        int      `json:"intro_points"`
	DescriptorRevision uint64   `json:"descriptor_revision,omitempty"`
	HSDir              string   `json:"hsdir,omitempty"`
	Epoch              int64    `json:"epoch,omitempty"`
	Node               string   `json:"node,omitempty"`
	// Health is the leader's verdict on the backend (absent: none yet, or health probes off).
	Health *record.BackendHealth `json:"health,omitempty"`
	// Probes are each node's last probe of the backend, by node name.
	Probes []ProbeStatus `json:"probes,omitempty"`
}

type DescriptorStatus struct {
	Slot            string        `json:"slot"` // the blinded key, hex
	PeriodNum       uint64        `json:"period_num"`
	PeriodLength    uint64        `json:"period_length"`
	RevisionCounter uint64        `json:"revision_counter"`
	UploadedAt      time.Time     `json:"uploaded_at"`
	Epoch           int64         `json:"epoch"`
	Node            string        `json:"node,omitempty"`
	IntroPoints     int           `json:"intro_points"`
	HSDirs          []HSDirStatus `json:"hsdirs"`
}

type HSDirStatus struct {
	Fingerprint string    `json:"fingerprint"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
	// Backends are the backends (addresses) in the descriptor uploaded to this HSDir.
	Backends []string `json:"backends,omitempty"`
}

// KeyFromConfigFile is ServiceStatus.Key for a service whose master key is not in etcd and which no
// cluster configuration in etcd lists: the nodes publishing it read the key from their config file.
const KeyFromConfigFile = "config-file"

// GatherStatus reads the cluster's state under keys, for `onionbalance status`. Each read is bounded by timeout.
func GatherStatus(ctx context.Context, kv clientv3.KV, keys store.Keys, timeout time.Duration, now time.Time) (*ClusterStatus, error) {
	st := store.New(kv, keys, nil, timeout)
	out := &ClusterStatus{Prefix: keys.Prefix(), At: now.UTC(), Candidates: []cluster.Candidate{}, Nodes: []NodeStatus{}, Services: []ServiceStatus{}}

	cctx, cancel := context.WithTimeout(ctx, timeout)
	cands, err := cluster.Candidates(cctx, kv, keys)
	cancel()
	if err != nil {
		return nil, err
	}
	out.Candidates = cands
	if len(cands) > 0 {
		out.Leader = &cands[0]
	}

	nodes, err := st.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		n.Role, n.Epoch = electedRole(n, out.Leader)
		out.Nodes = append(out.Nodes, NodeStatus{Node: n, HeartbeatAge: now.Sub(n.Heartbeat).Seconds()})
	}

	configured := map[string]record.ClusterService{}
	var order []string
	data, rev, err := st.Config(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		out.ConfigRevision = rev
		cc, perr := ParseClusterConfig(data)
		if perr != nil {
			out.ConfigError = perr.Error()
		}
		for _, s := range cc.Services {
			configured[s.Address] = s
			order = append(order, s.Address)
		}
	}
	stored, err := StoredServices(ctx, kv, keys, timeout)
	if err != nil {
		return nil, err
	}
	for _, addr := range stored {
		if _, ok := configured[addr]; !ok {
			order = append(order, addr)
		}
	}
	for _, addr := range order {
		cs, inConfig := configured[addr]
		ss, err := serviceState(ctx, st, kv, addr, cs, inConfig, timeout, now)
		if err != nil {
			return nil, err
		}
		ss.AuthorizedClients = len(cs.AuthorizedClients)
		out.Services = append(out.Services, ss)
	}
	if err := addHealth(ctx, st, out, now); err != nil {
		return nil, err
	}
	return out, nil
}

// addHealth adds the leader's health verdicts and the nodes' last probes to the backends, and each
// node's report summary to the nodes. Verdicts that do not decode are left out.
func addHealth(ctx context.Context, st *store.Store, out *ClusterStatus, now time.Time) error {
	verdicts, err := st.BackendHealths(ctx)
	if err != nil && !errors.Is(err, record.ErrBad) {
		return err
	}
	reports, err := st.ProbeReports(ctx)
	if err != nil {
		return err
	}
	last := map[string][]ProbeStatus{} // by backend
	byNode := map[string]*NodeProbes{}
	for _, r := range reports {
		byNode[r.Node] = &NodeProbes{At: r.At, Age: now.Sub(r.At).Seconds(), TorReady: r.TorReady, Results: len(r.Results)}
		latest := map[string]record.ProbeResult{}
		for _, res := range r.Results {
			if l, ok := latest[res.Backend]; !ok || !res.At.Before(l.At) {
				latest[res.Backend] = res
			}
		}
		for b, res := range latest {
			last[b] = append(last[b], ProbeStatus{Node: r.Node, Outcome: res.Outcome, LatencyMS: res.LatencyMS, At: res.At,
				Age: now.Sub(res.At).Seconds(), Detail: res.Detail, Counted: r.TorReady})
		}
	}
	for i := range out.Nodes {
		out.Nodes[i].Probes = byNode[out.Nodes[i].Name]
	}
	for i := range out.Services {
		for j := range out.Services[i].Backends {
			b := &out.Services[i].Backends[j]
			if v, ok := verdicts[b.Address]; ok {
				b.Health = &v
			}
			b.Probes = last[b.Address] // the reports come sorted by node name
		}
	}
	return nil
}

// RoleStaleLeader is the role shown for a node whose heartbeat still says leader although the election
// has another leader or none: it died or lost etcd, and its heartbeat outlives its leadership by up to
// the heartbeat's lease.
const RoleStaleLeader = "leader (stale)"

// electedRole is the role and epoch to show for a node: the election keys say who leads, not the
// heartbeats. The leader's own heartbeat may still say follower for a moment after it won.
func electedRole(n record.Node, leader *cluster.Candidate) (string, int64) {
	switch {
	case leader != nil && n.Name == leader.Name:
		return record.RoleLeader, leader.Epoch
	case n.Role == record.RoleLeader:
		return RoleStaleLeader, n.Epoch
	default:
		return n.Role, n.Epoch
	}
}

// StoredServices lists the service addresses that have anything stored, reading key names only.
func StoredServices(ctx context.Context, kv clientv3.KV, keys store.Keys, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := kv.Get(ctx, keys.Services(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", keys.Services(), err)
	}
	seen := map[string]bool{}
	var out []string
	for _, item := range resp.Kvs {
		addr, _, ok := strings.Cut(strings.TrimPrefix(string(item.Key), keys.Services()), "/")
		if ok && addr != "" && !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out, nil
}

// noteBadRecords keeps the records that did not decode (err wrapping record.ErrBad) in ss and returns
// any other error.
func (ss *ServiceStatus) noteBadRecords(err error) error {
	if err == nil || !errors.Is(err, record.ErrBad) {
		return err
	}
	ss.BadRecords = append(ss.BadRecords, strings.Split(err.Error(), "\n")...)
	return nil
}

func serviceState(ctx context.Context, st *store.Store, kv clientv3.KV, addr string, cs record.ClusterService, inConfig bool,
	timeout time.Duration, now time.Time) (ServiceStatus, error) {
	ss := ServiceStatus{Address: addr, InConfig: inConfig, Backends: []BackendStatus{}, Descriptors: []DescriptorStatus{}}
	ss.Key, ss.KeyKEKID = keyProtection(ctx, kv, st.Keys().ServiceKey(addr), timeout)
	if ss.Key == "missing" && !inConfig {
		ss.Key = KeyFromConfigFile
	}

	recs, err := st.Instances(ctx, addr)
	if err = ss.noteBadRecords(err); err != nil {
		return ss, err
	}
	byAddr := map[string]record.Instance{}
	for _, r := range recs {
		byAddr[r.Address] = r
	}
	add := func(inst, name string, configured bool) {
		b := BackendStatus{Address: inst, Name: name, InConfig: configured}
		if r, ok := byAddr[inst]; ok {
			age := now.Sub(r.ReceivedAt).Seconds()
			b.ReceivedAt, b.Age, b.IntroPoints = r.ReceivedAt, &age, len(r.IntroPoints)
			b.DescriptorRevision, b.HSDir, b.Epoch, b.Node = r.DescriptorRevision, r.HSDir, r.Epoch, r.Node
			if b.Name == "" {
				b.Name = r.Name
			}
			delete(byAddr, inst)
		}
		ss.Backends = append(ss.Backends, b)
	}
	for _, in := range cs.Instances {
		add(in.Address, in.Name, true)
	}
	for _, r := range recs { // records of backends the configuration does not list (single hosts, removed ones)
		if _, ok := byAddr[r.Address]; ok {
			add(r.Address, "", false)
		}
	}

	pubs, err := st.PublishedAll(ctx, addr)
	if err = ss.noteBadRecords(err); err != nil {
		return ss, err
	}
	for slot, p := range pubs {
		d := DescriptorStatus{Slot: slot, PeriodNum: p.PeriodNum, PeriodLength: p.PeriodLength, RevisionCounter: p.RevisionCounter,
			UploadedAt: p.UploadedAt, Epoch: p.Epoch, Node: p.Node, IntroPoints: len(p.IntroPoints), HSDirs: []HSDirStatus{}}
		for fp, r := range p.HSDirs {
			d.HSDirs = append(d.HSDirs, HSDirStatus{Fingerprint: fp, Status: r.Status, Reason: r.Reason, At: r.At,
				Backends: p.Backends[fp]})
		}
		sort.Slice(d.HSDirs, func(i, j int) bool { return d.HSDirs[i].Fingerprint < d.HSDirs[j].Fingerprint })
		ss.Descriptors = append(ss.Descriptors, d)
	}
	sort.Slice(ss.Descriptors, func(i, j int) bool {
		a, b := ss.Descriptors[i], ss.Descriptors[j]
		if a.PeriodNum != b.PeriodNum {
			return a.PeriodNum < b.PeriodNum
		}
		return a.Slot < b.Slot
	})
	return ss, nil
}

// keyProtection tells how the master key at key is stored, from the header of the stored value only;
// the value is wiped at once and never leaves this function.
func keyProtection(ctx context.Context, kv clientv3.KV, key string, timeout time.Duration) (how, kekID string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := kv.Get(ctx, key)
	if err != nil {
		return "unknown", "" // e.g. no read permission on keys: not this command's business
	}
	if len(resp.Kvs) == 0 {
		return "missing", ""
	}
	value := resp.Kvs[0].Value
	defer clear(value)
	id, err := store.SealedKEKID(value)
	switch {
	case err != nil:
		return "unknown", ""
	case id == "":
		return "plaintext", ""
	default:
		return "sealed", id
	}
}
