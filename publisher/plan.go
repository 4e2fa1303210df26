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
	// ID identifies the backend (its onion address); the plan is a deterministic function of the IDs.
	ID string
	// IntroPoints is how many usable intro points the backend's descriptor has.
	IntroPoints int
}

// Plan says which backends go into which descriptor. Subsets[i] lists the backends (and how many of their
// intro points) of distinct descriptor i. With one subset, every HSDir gets the same descriptor.
type Plan struct {
	Subsets [][]Share
	// Left lists backends that did not fit in any descriptor (more backends than the budget allows).
	Left []string
}

// Share is one backend's contribution to one descriptor.
type Share struct {
	ID          string
	IntroPoints int
}

// PlanDescriptors splits live backends over descriptors of at most MaxIntroPoints intro points each.
//
// perBackend is the fair share of intro points per backend. subsets is the number of distinct
// descriptors that clients can see (the HSDirs they fetch from: hsdir_spread_fetch per replica, 6 on the
// real network). When every backend's share fits in one descriptor, the plan has exactly one subset.
// Otherwise each subset holds at most MaxIntroPoints intro points and every backend appears in as many
// subsets as the budget allows, spread as evenly as possible; the assignment is a deterministic function of
// the backend IDs (rendezvous hashing), so a backend joining or leaving moves few others.
func PlanDescriptors(backends []PlanBackend, perBackend, subsets int) Plan {
	if perBackend < 1 {
		perBackend = 1
	}
	if subsets < 1 {
		subsets = 1
	}
	var live []Share
	total := 0
	for _, b := range backends {
		n := min(b.IntroPoints, perBackend)
		if n <= 0 {
			continue
		}
		live = append(live, Share{ID: b.ID, IntroPoints: n})
		total += n
	}
	if len(live) == 0 {
		return Plan{}
	}
	// Global order: by rendezvous weight, so who gets the spare copies (and who is left out when the
	// budget is short) depends only on each backend's own ID.
	sort.Slice(live, func(i, j int) bool {
		wi, wj := weight(live[i].ID, -1), weight(live[j].ID, -1)
		if wi != wj {
			return wi > wj
		}
		return live[i].ID < live[j].ID
	})
	if total <= MaxIntroPoints {
		return Plan{Subsets: [][]Share{live}}
	}

	// Copies per backend: spread the total budget (subsets x MaxIntroPoints) evenly, at most one copy per
	// subset. Fill round by round so every backend gets its first copy before any gets a second.
	budget := subsets * MaxIntroPoints
	copies := make([]int, len(live))
	for round := 0; round < subsets; round++ {
		placed := false
		for i, s := range live {
			if budget < s.IntroPoints {
				continue
			}
			if copies[i] == round {
				copies[i]++
				budget -= s.IntroPoints
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
	held := make([]map[int]bool, len(live))
	load := make([]int, subsets)
	members := make([]map[int]bool, subsets)
	for i := range members {
		members[i] = map[int]bool{}
	}
	for i, s := range live {
		prefs[i] = preferredSubsets(s.ID, subsets)
		held[i] = map[int]bool{}
		for k := 0; k < copies[i]; k++ {
			sub := prefs[i][k]
			held[i][sub], members[sub][i] = true, true
			load[sub] += s.IntroPoints
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
		sort.Slice(cands, func(a, b int) bool {
			wa, wb := weight(live[cands[a]].ID, over), weight(live[cands[b]].ID, over)
			if wa != wb {
				return wa < wb
			}
			return live[cands[a]].ID < live[cands[b]].ID
		})
		mover, target := -1, -1
		for pass := 0; pass < 2 && mover < 0; pass++ {
			for _, i := range cands {
				if next[i] >= subsets {
					continue
				}
				t := prefs[i][next[i]]
				if pass == 0 && load[t]+live[i].IntroPoints > MaxIntroPoints {
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
		delete(held[mover], over)
		load[over] -= live[mover].IntroPoints
		if target >= 0 {
			next[mover]++
			held[mover][target], members[target][mover] = true, true
			load[target] += live[mover].IntroPoints
		}
	}
	plan := Plan{Subsets: make([][]Share, subsets)}
	for i, s := range live { // live is in global order, so each subset lists its backends in that order
		if len(held[i]) == 0 {
			plan.Left = append(plan.Left, s.ID)
		}
		for sub := range held[i] {
			plan.Subsets[sub] = append(plan.Subsets[sub], s)
		}
	}
	// Drop empty subsets at the end only if every subset is empty; an empty subset in the middle
	// is filled by the caller with a copy of another (see SubsetFor).
	sort.Strings(plan.Left)
	return plan
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
