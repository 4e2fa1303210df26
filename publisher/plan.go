package publisher

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
)

// MaxIntroPoints is the most intro points a tor client accepts in one descriptor
// (HS_CONFIG_V3_MAX_INTRO_POINTS).
const MaxIntroPoints = 20

// PlanBackend is one live backend as the planner sees it.
type PlanBackend struct {
	// ID identifies the backend (its onion address); the plan is a deterministic function of the IDs
	// and relays.
	ID string
	// Relays names the relay (identity digest) of each usable intro point, in the backend's order.
	//
	// A tor client tells the intro points of a descriptor apart by relay: after building a circuit to a
	// relay it uses the first intro point listed on that relay, whichever one it picked. Of several intro
	// points on one relay only the first is ever used, so a descriptor carries at most one per relay.
	Relays []string
}

// Plan says which backends (and which of their intro points) go into which descriptor. With one
// subset, every HSDir gets the same descriptor.
type Plan struct {
	Subsets [][]Share
	// Left lists backends that are in no descriptor: the budget (MaxIntroPoints per descriptor, one
	// intro point per relay) has no room for them.
	Left []string
}

// Share is one backend's contribution to one descriptor.
type Share struct {
	ID string
	// Intros indexes the backend's Relays: the intro points this descriptor carries, at least one.
	Intros []int
}

// PlanDescriptors splits live backends over descriptors of at most MaxIntroPoints intro points each,
// no two of them on the same relay.
//
// perBackend is the fair share of intro points per backend. subsets is the number of distinct
// descriptors that clients can see (the HSDirs they fetch from: hsdir_spread_fetch per replica, 6 on the
// real network). When every backend fits in one descriptor, the plan has exactly one subset. Otherwise
// every backend appears in as many subsets as the budget allows, spread as evenly as possible; the
// assignment is a deterministic function of the backend IDs (rendezvous hashing), so a backend joining
// or leaving moves few others. Within a descriptor, backends whose intro points share relays take
// turns: everyone gets one intro point before anyone gets a second, and a backend crowded out of one
// descriptor is given a place in another.
func PlanDescriptors(backends []PlanBackend, perBackend, subsets int) Plan {
	perBackend = max(perBackend, 1)
	subsets = max(subsets, 1)
	var live []member
	total := 0
	for _, b := range backends {
		if len(b.Relays) == 0 {
			continue
		}
		m := member{id: b.ID, relays: b.Relays, want: min(distinct(b.Relays), perBackend)}
		live = append(live, m)
		total += m.want
	}
	if len(live) == 0 {
		return Plan{}
	}
	// Global order: by rendezvous weight, so who gets the spare copies (and who is left out when the
	// budget is short) depends only on each backend's own ID.
	sort.Slice(live, func(i, j int) bool {
		wi, wj := weight(live[i].id, -1), weight(live[j].id, -1)
		if wi != wj {
			return wi > wj
		}
		return live[i].id < live[j].id
	})
	if total <= MaxIntroPoints {
		all := make([]int, len(live))
		for i := range all {
			all[i] = i
		}
		if one := fillSubset(live, all, perBackend); len(one) == len(live) {
			return Plan{Subsets: [][]Share{one}}
		}
		// Some backend's intro points all sit on relays others hold: spread over several descriptors.
	}
	return planSubsets(live, perBackend, subsets)
}

// member is a live backend inside the planner.
type member struct {
	id     string
	relays []string
	want   int // intro points it may contribute to one descriptor
}

// planSubsets places the backends over n subsets: first which subsets each backend belongs to
// (bounded-load rendezvous hashing on intro point counts), then which intro points each member
// contributes (one per relay), then a place for every backend crowded out everywhere.
func planSubsets(live []member, perBackend, n int) Plan {
	index := make(map[string]int, len(live))
	for i, m := range live {
		index[m.id] = i
	}
	members := assignSubsets(live, n)
	plan := Plan{Subsets: make([][]Share, n)}
	covered := make([]bool, len(live))
	for sub := range members {
		order := members[sub]
		sort.Slice(order, func(a, b int) bool { return attached(live, sub, order[a], order[b]) })
		plan.Subsets[sub] = fillSubset(live, order, perBackend)
		for _, sh := range plan.Subsets[sub] {
			covered[index[sh.ID]] = true
		}
	}
	for i := range live {
		if !covered[i] && !plan.squeezeIn(live, index, i) {
			plan.Left = append(plan.Left, live[i].id)
		}
	}
	for _, shares := range plan.Subsets { // each subset lists its backends in the global order
		sort.Slice(shares, func(a, b int) bool { return index[shares[a].ID] < index[shares[b].ID] })
	}
	sort.Strings(plan.Left)
	return plan
}

// assignSubsets decides which subsets each backend belongs to, by index into live.
func assignSubsets(live []member, subsets int) [][]int {
	// Copies per backend: spread the total budget (subsets x MaxIntroPoints) evenly, at most one copy per
	// subset. Fill round by round so every backend gets its first copy before any gets a second.
	budget := subsets * MaxIntroPoints
	copies := make([]int, len(live))
	for round := 0; round < subsets; round++ {
		placed := false
		for i, m := range live {
			if budget < m.want {
				continue
			}
			if copies[i] == round {
				copies[i]++
				budget -= m.want
				placed = true
			}
		}
		if !placed {
			break
		}
	}

	// Place the copies by rendezvous hashing with bounded load: each backend first takes its most
	// preferred subsets; then, while a subset is over MaxIntroPoints, the member that likes it least moves
	// on to its next preference. A joining or leaving backend therefore disturbs only the few backends
	// displaced from (or let back into) the subsets it prefers.
	prefs := make([][]int, len(live))
	next := make([]int, len(live))
	load := make([]int, subsets)
	members := make([]map[int]bool, subsets)
	for i := range members {
		members[i] = map[int]bool{}
	}
	for i, m := range live {
		prefs[i] = preferredSubsets(m.id, subsets)
		for k := 0; k < copies[i]; k++ {
			members[prefs[i][k]][i] = true
			load[prefs[i][k]] += m.want
		}
		next[i] = copies[i]
	}
	for moves := 0; moves <= len(live)*subsets; moves++ {
		over := -1
		for sub := range load {
			if load[sub] > MaxIntroPoints {
				over = sub
				break
			}
		}
		if over < 0 {
			break
		}
		// Candidates to leave "over": least attached first; prefer one whose next choice has room.
		var cands []int
		for i := range members[over] {
			cands = append(cands, i)
		}
		sort.Slice(cands, func(a, b int) bool { return attached(live, over, cands[b], cands[a]) })
		mover, target := -1, -1
		for pass := 0; pass < 2 && mover < 0; pass++ {
			for _, i := range cands {
				if next[i] >= subsets {
					continue
				}
				t := prefs[i][next[i]]
				if pass == 0 && load[t]+live[i].want > MaxIntroPoints {
					continue
				}
				mover, target = i, t
				break
			}
		}
		if mover < 0 { // nobody can move: drop the least attached member's copy
			mover = cands[0]
		}
		delete(members[over], mover)
		load[over] -= live[mover].want
		if target >= 0 {
			next[mover]++
			members[target][mover] = true
			load[target] += live[mover].want
		}
	}
	out := make([][]int, subsets)
	for sub, ms := range members {
		for i := range ms {
			out[sub] = append(out[sub], i)
		}
	}
	return out
}

// fillSubset gives each member of one descriptor (by index into live, most entitled first) its intro
// points, one relay per intro point and at most MaxIntroPoints in all. Members take turns: first as many
// members as possible get one intro point each (a maximum matching of members to their relays, so a
// member never takes the only relay another one has when it has a free one of its own; the most
// entitled are matched first), then each gets a second, and so on. Members left without any are not in
// the result.
func fillSubset(live []member, order []int, perBackend int) []Share {
	holder := map[string]int{} // relay -> position in order of the member holding it
	picks := make([][]int, len(order))
	total := 0
	// give tries to find member k a relay: a free one, or one whose holder can move to another of its
	// own (augmenting path). A member that holds a relay always keeps one.
	var give func(k int, tried map[string]bool) bool
	give = func(k int, tried map[string]bool) bool {
		for j, r := range live[order[k]].relays {
			if tried[r] {
				continue
			}
			tried[r] = true
			if h, held := holder[r]; !held || give(h, tried) {
				holder[r], picks[k] = k, []int{j}
				return true
			}
		}
		return false
	}
	for k := range order {
		if total < MaxIntroPoints && give(k, map[string]bool{}) {
			total++
		}
	}
	for round := 1; round < perBackend; round++ {
		for k, i := range order {
			m := live[i]
			if len(picks[k]) != round || round >= m.want || total >= MaxIntroPoints {
				continue
			}
			for j, r := range m.relays {
				if _, held := holder[r]; !held {
					holder[r] = k
					picks[k] = append(picks[k], j)
					total++
					break
				}
			}
		}
	}
	var out []Share
	for k, i := range order {
		if len(picks[k]) > 0 {
			sort.Ints(picks[k])
			out = append(out, Share{ID: live[i].id, Intros: picks[k]})
		}
	}
	return out
}

// squeezeIn finds a place for live[i], which no subset took. In its preferred order of subsets, it takes
// the first of: a relay of its own that is free in a subset with room; a relay that carries another
// member's second (or later) intro point there; a relay that carries the only intro point of a member
// that is also in another subset. The member giving way loses that intro point (and, in the last case,
// its place in that subset, never its last one). It reports whether it found a place.
func (p *Plan) squeezeIn(live []member, index map[string]int, i int) bool {
	m := live[i]
	prefs := preferredSubsets(m.id, len(p.Subsets))
	for option := 0; option < 3; option++ {
		cov := p.Coverage()
		for _, sub := range prefs {
			shares := p.Subsets[sub]
			holder := map[string][2]int{} // relay -> share index, intro index within the share
			total := 0
			for s, sh := range shares {
				for k, j := range sh.Intros {
					holder[live[index[sh.ID]].relays[j]] = [2]int{s, k}
				}
				total += len(sh.Intros)
			}
			for j, r := range m.relays {
				h, held := holder[r]
				switch {
				case option == 0 && !held && total < MaxIntroPoints:
				case option == 1 && held && len(shares[h[0]].Intros) > 1:
					sh := &shares[h[0]]
					sh.Intros = append(sh.Intros[:h[1]:h[1]], sh.Intros[h[1]+1:]...)
				case option == 2 && held && cov[shares[h[0]].ID] > 1:
					shares = append(shares[:h[0]:h[0]], shares[h[0]+1:]...)
				default:
					continue
				}
				p.Subsets[sub] = append(shares, Share{ID: m.id, Intros: []int{j}})
				return true
			}
		}
	}
	return false
}

// distinct counts the different relays: a backend contributes at most one intro point per relay.
func distinct(relays []string) int {
	seen := make(map[string]bool, len(relays))
	for _, r := range relays {
		seen[r] = true
	}
	return len(seen)
}

// attached orders members of subset sub: true when live[a] is more attached to it than live[b].
func attached(live []member, sub, a, b int) bool {
	wa, wb := weight(live[a].id, sub), weight(live[b].id, sub)
	if wa != wb {
		return wa > wb
	}
	return live[a].id < live[b].id
}

// SubsetFor maps HSDir position pos (0-based, in responsible order) to a non-empty subset index, so that
// HSDirs no client asks still get a valid descriptor. It returns -1 when the plan is empty.
func (p Plan) SubsetFor(pos int) int {
	n := len(p.Subsets)
	if n == 0 {
		return -1
	}
	for k := 0; k < n; k++ {
		i := (pos + k) % n
		if len(p.Subsets[i]) > 0 {
			return i
		}
	}
	return -1
}

// Coverage counts in how many subsets each backend appears.
func (p Plan) Coverage() map[string]int {
	c := make(map[string]int)
	for _, sub := range p.Subsets {
		for _, s := range sub {
			c[s.ID]++
		}
	}
	return c
}

func preferredSubsets(id string, n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return weight(id, idx[a]) > weight(id, idx[b]) })
	return idx
}

// weight is the rendezvous-hashing weight of backend id for subset sub (-1: the global order).
func weight(id string, sub int) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(int64(sub)))
	h.Write(b[:])
	h.Write([]byte(id))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}
