package publisher

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/store/record"
)

// Status is a snapshot of what the manager knows, for the status socket, the status command and metrics.
type Status struct {
	Leading  bool            `json:"leading"`
	Epoch    int64           `json:"epoch,omitempty"`
	Node     string          `json:"node,omitempty"`
	Services []ServiceStatus `json:"services"`
	// ConsensusValidAfter is the valid-after of the consensus in use (zero: none yet).
	ConsensusValidAfter time.Time `json:"consensus_valid_after"`
	// Counters are cumulative since the start of the process.
	Counters Counters `json:"counters"`
}

// Counters count what happened since the process started (for metrics).
type Counters struct {
	LeaderTransitions uint64            `json:"leader_transitions"`
	TorReconnects     uint64            `json:"tor_reconnects"`
	Publishes         map[string]uint64 `json:"publishes"`       // by result: uploaded, error
	UploadFailures    map[string]uint64 `json:"upload_failures"` // by HSDir fingerprint
	FetchFailures     map[string]uint64 `json:"fetch_failures"`  // by reason (tor's, or "rejected")
}

func (c Counters) clone() Counters {
	cp := func(m map[string]uint64) map[string]uint64 {
		out := make(map[string]uint64, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	c.Publishes, c.UploadFailures, c.FetchFailures = cp(c.Publishes), cp(c.UploadFailures), cp(c.FetchFailures)
	return c
}

// ServiceStatus describes one public address.
type ServiceStatus struct {
	Address     string            `json:"address"`
	Backends    []BackendStatus   `json:"backends"`
	Descriptors []DescriptorState `json:"descriptors"`
	// AuthorizedClients is the number of clients allowed to read the descriptors (restricted
	// discovery); 0: anyone who knows the address. Never the keys.
	AuthorizedClients int `json:"authorized_clients"`
	// LastAttempt holds the time of the last upload of the first and second descriptor, in the Python
	// tool's format ("2006-01-02 15:04:05" UTC), or "".
	LastAttempt [2]string `json:"-"`
	// HealthRules are the service's backend-health rules (ServiceConfig.Health), for the daemon's
	// prober and judge.
	HealthRules health.Rules `json:"-"`
}

// BackendStatus describes one backend.
type BackendStatus struct {
	Address       string    `json:"address"`
	Name          string    `json:"name,omitempty"`
	Live          bool      `json:"live"`
	Why           string    `json:"why,omitempty"`
	IntroPoints   int       `json:"intro_points"`
	ReceivedAt    time.Time `json:"received_at"`
	RevisionSince time.Time `json:"revision_since"`
	// IntroSetModified is when the backend's intro points last changed.
	IntroSetModified time.Time `json:"intro_set_modified"`
	Revision         uint64    `json:"revision"`
	LastFetchError   string    `json:"last_fetch_error,omitempty"`
	// Health is the leader's health verdict (up or down; empty when none, e.g. on a follower),
	// HealthReason why, HealthSince since when. Excluded is set when the verdict removed the backend
	// from the descriptors (Live is then false).
	Health       string    `json:"health,omitempty"`
	HealthReason string    `json:"health_reason,omitempty"`
	HealthSince  time.Time `json:"health_since,omitzero"`
	Excluded     bool      `json:"excluded,omitempty"`
}

// DescriptorState describes one published descriptor (one blinded key).
type DescriptorState struct {
	// Current is "first" or "second" (descNames) while the descriptor is one of the two published
	// now, "" for an older time period.
	Current     string                 `json:"slot"`
	Period      uint64                 `json:"period"`
	Revision    uint64                 `json:"revision_counter"`
	UploadedAt  time.Time              `json:"uploaded_at"`
	HSDirs      map[string]UploadState `json:"hsdirs"`
	IntroPoints map[string]string      `json:"intro_points"` // auth key -> backend
}

// UploadState is the last upload result at one HSDir.
type UploadState struct {
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Backends are the backends (addresses without ".onion") in the descriptor uploaded to this HSDir.
	Backends []string `json:"backends,omitempty"`
}

func (m *Manager) publishStatus() {
	now := m.cfg.Clock.Now()
	st := &Status{Leading: m.leading, Node: m.cfg.Node, Counters: m.counters.clone()}
	if m.leading {
		st.Epoch = m.epoch
	}
	if m.cons != nil {
		st.ConsensusValidAfter = m.cons.ValidAfter
	}
	for _, svc := range m.services {
		ss := ServiceStatus{Address: svc.addr + ".onion", AuthorizedClients: len(svc.clients), HealthRules: svc.health}
		ss.LastAttempt = [2]string{svc.lastAttempt[0].at, svc.lastAttempt[1].at}
		for _, b := range svc.backends {
			live, why := b.Live(now, m.cfg.Liveness)
			ss.Backends = append(ss.Backends, BackendStatus{
				Address: b.Address + ".onion", Name: b.Name, Live: live, Why: why,
				IntroPoints: len(b.Record.IntroPoints), ReceivedAt: b.Record.ReceivedAt,
				RevisionSince: b.RevisionSince, IntroSetModified: b.IntroSetModified, Revision: b.Record.DescriptorRevision, LastFetchError: b.LastFetchError,
				Health: b.Verdict.State, HealthReason: b.Verdict.Reason, HealthSince: b.Verdict.Since, Excluded: b.Excluded != "",
			})
		}
		current := map[string]string{}
		if m.cons != nil {
			for i, tp := range m.cons.TimePeriods() {
				if blinded, err := svc.blinded(tp); err == nil {
					current[record.BlindedKeyHex(blinded)] = descNames[i]
				}
			}
		}
		for bhex, s := range svc.byBlinded {
			if s.record.RevisionCounter == 0 {
				continue
			}
			ds := DescriptorState{Current: current[bhex], Period: s.record.PeriodNum, Revision: s.record.RevisionCounter,
				UploadedAt: s.record.UploadedAt, HSDirs: map[string]UploadState{}, IntroPoints: s.record.IntroPoints}
			for fp, r := range s.record.HSDirs {
				ds.HSDirs[fp] = UploadState{Status: r.Status, Reason: r.Reason, At: r.At, Backends: s.record.Backends[fp]}
			}
			ss.Descriptors = append(ss.Descriptors, ds)
		}
		sort.Slice(ss.Descriptors, func(i, j int) bool { return ss.Descriptors[i].Period < ss.Descriptors[j].Period })
		st.Services = append(st.Services, ss)
	}
	m.status.Store(st)
}

// PythonJSON renders the status as the Python OnionBalance's status socket does (same field names,
// times as naive UTC "YYYY-MM-DD HH:MM:SS", sorted keys), with our additions in extra fields:
// "leading", "epoch", "node", and per service "descriptors" and "authorizedClients" (restricted
// discovery only) and per instance "live", "name", and when the leader has a health verdict on it
// "health" (up or down), "healthReason", "healthSince" and "excluded" (it left the descriptor on probe
// evidence).
func (s *Status) PythonJSON() ([]byte, error) {
	type instance map[string]any
	type service struct {
		OnionAddress string            `json:"onionAddress"`
		First        *string           `json:"publishAttemptFirstDescriptor"`
		Second       *string           `json:"publishAttemptSecondDescriptor"`
		Instances    []instance        `json:"instances"`
		Descriptors  []DescriptorState `json:"descriptors"`
		// AuthorizedClients counts the clients of restricted discovery (never their keys).
		AuthorizedClients int `json:"authorizedClients,omitempty"`
	}
	out := struct {
		Services []service `json:"services"`
		Leading  bool      `json:"leading"`
		Epoch    int64     `json:"epoch,omitempty"`
		Node     string    `json:"node,omitempty"`
	}{Leading: s.Leading, Epoch: s.Epoch, Node: s.Node, Services: []service{}}
	strp := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	pyTime := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	for _, ss := range s.Services {
		sv := service{OnionAddress: ss.Address, First: strp(ss.LastAttempt[0]), Second: strp(ss.LastAttempt[1]),
			Instances: []instance{}, Descriptors: ss.Descriptors, AuthorizedClients: ss.AuthorizedClients}
		if sv.Descriptors == nil {
			sv.Descriptors = []DescriptorState{}
		}
		for _, b := range ss.Backends {
			in := instance{"onionAddress": b.Address, "live": b.Live, "name": b.Name}
			if b.Health != "" {
				in["health"], in["healthReason"], in["excluded"] = b.Health, b.HealthReason, b.Excluded
				if !b.HealthSince.IsZero() {
					in["healthSince"] = pyTime(b.HealthSince)
				}
			}
			if b.ReceivedAt.IsZero() {
				in["received"] = nil
			} else {
				in["introSetModified"] = pyTime(b.IntroSetModified)
				in["introPointsNum"] = b.IntroPoints
				in["descriptorReceived"] = pyTime(b.ReceivedAt)
			}
			sv.Instances = append(sv.Instances, in)
		}
		out.Services = append(out.Services, sv)
	}
	return json.Marshal(out)
}
