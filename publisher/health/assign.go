package health

import (
	"slices"
	"time"
)

// Round is the probe round that t falls in: rounds are aligned on the wall clock, so the nodes of a
// cluster agree on them (up to their clock difference).
func Round(t time.Time, interval time.Duration) int64 {
	if interval <= 0 {
		return 0
	}
	return t.UnixNano() / int64(interval)
}

// Assign returns the backends node probes in round, out of backends, spread over the live nodes.
// Every backend is probed by at least one node per round; the assignment rotates from one round to
// the next (each backend moves on to another node every round), so each backend is seen from every
// node's vantage point over as many rounds as there are nodes. A node probes
// at least two backends per round when there are two (so that its own tor's health shows in every
// round: see Judge). A node not in nodes probes nothing. The result is in the order of backends
// (sorted, without duplicates, by the caller's choice of input order).
func Assign(backends, nodes []string, node string, round int64) []string {
	b := dedupeSorted(backends)
	n := dedupeSorted(nodes)
	i := slices.Index(n, node)
	if i < 0 || len(b) == 0 {
		return nil
	}
	share := (len(b) + len(n) - 1) / len(n) // ceil: the shares cover every backend
	k := max(share, min(len(b), 2))
	// Node i starts at share*(i+round): the shares tile the ring of backends, and each round every
	// backend moves on to the next node.
	nb := int64(len(b))
	start := int((((int64(i) + round%nb + nb) % nb) * int64(share)) % nb)
	picked := make(map[string]bool, k)
	for j := 0; j < k; j++ {
		picked[b[(start+j)%len(b)]] = true
	}
	var out []string
	for _, x := range b {
		if picked[x] {
			out = append(out, x)
		}
	}
	return out
}

func dedupeSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
