package hashring

import (
	"bytes"
	"cmp"
	"slices"
)

// HSDir is one relay on the hash ring.
type HSDir struct {
	Fingerprint string   // 40 uppercase hex characters: what SERVER= takes
	Nickname    string   // relay nickname, for logs and HS_DESC events
	Ed25519     [32]byte // ed25519 identity from the microdescriptor
	Index       [32]byte // hsdir_index: position on this ring
}

// Ring is the v3 hash ring of one consensus for one time period: every relay tor
// would store descriptors on, sorted by hsdir_index. Build it once per
// (consensus, time period) with NewRing and query it for many keys. A Ring is
// immutable and safe for concurrent use.
type Ring struct {
	period      TimePeriod
	nodes       []HSDir
	replicas    int
	spreadStore int
	spreadFetch int
}

// NewRing builds the ring of c for time period s. The candidates are the relays
// with the HSDir flag, HSDir=2 in their "pr" line and a known ed25519
// identity (call c.AttachMicrodescs first), minus those flagged
// NoEdConsensus. The consensus params hsdir_n_replicas,
// hsdir_spread_store and hsdir_spread_fetch are read now.
func NewRing(c *Consensus, s TimePeriod) *Ring {
	r := &Ring{
		period:      s,
		replicas:    c.HSDirNReplicas(),
		spreadStore: c.HSDirSpreadStore(),
		spreadFetch: c.HSDirSpreadFetch(),
	}
	for i := range c.Relays {
		rel := &c.Relays[i]
		if !rel.hsdirV3() {
			continue
		}
		r.nodes = append(r.nodes, HSDir{
			Fingerprint: rel.Fingerprint(),
			Nickname:    rel.Nickname,
			Ed25519:     rel.Ed25519,
			Index:       HSDirIndex(rel.Ed25519, s.SRV, s.Period, s.PeriodLength),
		})
	}
	slices.SortFunc(r.nodes, func(a, b HSDir) int {
		if c := bytes.Compare(a.Index[:], b.Index[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Fingerprint, b.Fingerprint)
	})
	return r
}

// TimePeriod returns the time period the ring was built for.
func (r *Ring) TimePeriod() TimePeriod { return r.period }

// Len returns the number of relays on the ring.
func (r *Ring) Len() int { return len(r.nodes) }

// Nodes returns a copy of the ring, in ring order.
func (r *Ring) Nodes() []HSDir { return slices.Clone(r.nodes) }

// Responsible returns the HSDirs a descriptor blinded with key blinded for
// the ring's time period must be uploaded to, in tor's order: hsdir_spread_store
// relays for replica 1, then for replica 2, and so on
// (hs_get_responsible_hsdirs with for_fetching false). That is 8 relays on
// the real network, fewer when the ring is small.
func (r *Ring) Responsible(blinded [32]byte) []HSDir {
	return r.pick(blinded, r.spreadStore)
}

// FetchSet returns the HSDirs a tor client picks from when fetching the
// descriptor: hsdir_spread_fetch relays per replica
// (hs_get_responsible_hsdirs with for_fetching true). Use it with the ring
// of Consensus.ClientTimePeriod.
func (r *Ring) FetchSet(blinded [32]byte) []HSDir {
	return r.pick(blinded, r.spreadFetch)
}

// pick walks the ring from each replica's hs_index, taking perReplica
// relays not taken already, and stops early when a walk comes full circle.
func (r *Ring) pick(blinded [32]byte, perReplica int) []HSDir {
	n := len(r.nodes)
	if n == 0 {
		return nil
	}
	chosen := make([]int, 0, min(n, r.replicas*perReplica))
	for replica := 1; replica <= r.replicas; replica++ {
		key := HSIndex(blinded, uint64(replica), r.period.Period, r.period.PeriodLength)
		start, _ := slices.BinarySearchFunc(r.nodes, key, func(node HSDir, k [32]byte) int {
			return bytes.Compare(node.Index[:], k[:])
		})
		if start == n {
			start = 0
		}
		idx := start
		for added := 0; added < perReplica; {
			if !slices.Contains(chosen, idx) {
				chosen = append(chosen, idx)
				added++
			}
			idx = (idx + 1) % n
			if idx == start {
				break
			}
		}
	}
	out := make([]HSDir, len(chosen))
	for i, idx := range chosen {
		out[i] = r.nodes[idx]
	}
	return out
}
