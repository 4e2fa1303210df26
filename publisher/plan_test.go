package publisher

import (
	"fmt"
	"math/rand"
	"testing"
)

// backendsN returns n backends with intros intro points each, every one on a relay of its own.
func backendsN(n, intros int) []PlanBackend {
	bs := make([]PlanBackend, n)
	for i := range bs {
		bs[i] = PlanBackend{ID: fmt.Sprintf("backend%02d", i)}
		for j := range intros {
			bs[i].Relays = append(bs[i].Relays, fmt.Sprintf("relay-%d-%d", i, j))
		}
	}
	return bs
}

// checkPlan checks what every plan must satisfy: at most MaxIntroPoints intro points and one intro
// point per relay in each descriptor, each backend at most once per descriptor with between 1 and
// perBackend of its own intro points, and Left exactly the backends in no descriptor.
func checkPlan(t *testing.T, bs []PlanBackend, p Plan, perBackend int) {
	t.Helper()
	byID := map[string]PlanBackend{}
	for _, b := range bs {
		byID[b.ID] = b
	}
	for i, sub := range p.Subsets {
		n := 0
		seen, relays := map[string]bool{}, map[string]string{}
		for _, s := range sub {
			if seen[s.ID] {
				t.Errorf("subset %d lists %s twice", i, s.ID)
			}
			seen[s.ID] = true
			if len(s.Intros) == 0 || len(s.Intros) > perBackend {
				t.Errorf("subset %d: %s contributes %d intro points, want 1..%d", i, s.ID, len(s.Intros), perBackend)
			}
			picked := map[int]bool{}
			for _, j := range s.Intros {
				b := byID[s.ID]
				if j < 0 || j >= len(b.Relays) || picked[j] {
					t.Errorf("subset %d: %s intro point index %d invalid or repeated (%d intro points)", i, s.ID, j, len(b.Relays))
					continue
				}
				picked[j] = true
				if other, dup := relays[b.Relays[j]]; dup {
					t.Errorf("subset %d: relay %s carries intro points of %s and %s", i, b.Relays[j], other, s.ID)
				}
				relays[b.Relays[j]] = s.ID
			}
			n += len(s.Intros)
		}
		if n > MaxIntroPoints {
			t.Errorf("subset %d has %d intro points, more than %d", i, n, MaxIntroPoints)
		}
	}
	cov := p.Coverage()
	left := map[string]bool{}
	for _, id := range p.Left {
		left[id] = true
		if cov[id] > 0 {
			t.Errorf("%s is both left out and in %d subsets", id, cov[id])
		}
	}
	for _, b := range bs {
		if len(b.Relays) > 0 && cov[b.ID] == 0 && !left[b.ID] {
			t.Errorf("%s is in no subset but not listed as left out", b.ID)
		}
	}
}

// planChecked plans and checks the invariants of the plan.
func planChecked(t *testing.T, bs []PlanBackend, perBackend, subsets int) Plan {
	t.Helper()
	p := PlanDescriptors(bs, perBackend, subsets)
	checkPlan(t, bs, p, perBackend)
	return p
}

func TestPlanFitsInOneDescriptor(t *testing.T) {
	p := planChecked(t, backendsN(10, 3), 2, 6)
	if len(p.Subsets) != 1 || len(p.Subsets[0]) != 10 || len(p.Left) != 0 {
		t.Fatalf("plan = %+v", p)
	}
	for _, s := range p.Subsets[0] {
		if len(s.Intros) != 2 {
			t.Errorf("%s gets %d intro points, want its fair share 2", s.ID, len(s.Intros))
		}
	}
	// A backend with fewer intro points than its share contributes what it has; one with none is skipped.
	bs := []PlanBackend{{"a", []string{"r1"}}, {"b", nil}, {"c", []string{"r2", "r3", "r4", "r5", "r6"}}}
	p = PlanDescriptors(bs, 2, 6)
	checkPlan(t, bs, p, 2)
	if len(p.Subsets) != 1 || len(p.Subsets[0]) != 2 || len(p.Left) != 0 {
		t.Fatalf("plan = %+v", p)
	}
	for _, s := range p.Subsets[0] {
		if want := map[string]int{"a": 1, "c": 2}[s.ID]; len(s.Intros) != want {
			t.Errorf("%s gets %d intro points, want %d", s.ID, len(s.Intros), want)
		}
	}
	if got := PlanDescriptors(nil, 2, 6); len(got.Subsets) != 0 || got.SubsetFor(0) != -1 {
		t.Fatalf("empty plan = %+v", got)
	}
}

func TestPlan60Backends(t *testing.T) {
	p := planChecked(t, backendsN(60, 2), 2, 6)
	if len(p.Subsets) != 6 || len(p.Left) != 0 {
		t.Fatalf("subsets %d, left %v", len(p.Subsets), p.Left)
	}
	cov := p.Coverage()
	for i := 0; i < 60; i++ {
		if id := fmt.Sprintf("backend%02d", i); cov[id] != 1 {
			t.Errorf("%s in %d subsets, want 1 (120 slots / 120 intro points)", id, cov[id])
		}
	}
	for i, sub := range p.Subsets {
		if len(sub) != 10 {
			t.Errorf("subset %d has %d backends, want 10", i, len(sub))
		}
	}
}

func TestPlanSpreadsCopiesEvenly(t *testing.T) {
	// 12 backends x 2 = 24 intro points: 120 / 24 = 5 copies each.
	p := planChecked(t, backendsN(12, 2), 2, 6)
	for id, c := range p.Coverage() {
		if c != 5 {
			t.Errorf("%s in %d subsets, want 5", id, c)
		}
	}
	// 25 backends: 50 intro points, 2 copies each (100), then 10 get a third copy.
	p = planChecked(t, backendsN(25, 2), 2, 6)
	hist := map[int]int{}
	for _, c := range p.Coverage() {
		hist[c]++
	}
	if hist[2]+hist[3] != 25 || hist[3] > 10 || hist[3] < 9 {
		t.Errorf("copy histogram %v, want 25 backends with 2 or 3 copies, about 10 with 3", hist)
	}
}

func TestPlanOverBudgetLeavesSomeOut(t *testing.T) {
	p := planChecked(t, backendsN(70, 2), 2, 6)
	if len(p.Left) != 10 {
		t.Fatalf("left out %d backends, want 10", len(p.Left))
	}
	if len(p.Coverage()) != 60 {
		t.Fatalf("covered %d, want 60", len(p.Coverage()))
	}
}

func TestPlanDeterministic(t *testing.T) {
	bs := backendsN(37, 2)
	want := PlanDescriptors(bs, 2, 6)
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 5; i++ {
		r.Shuffle(len(bs), func(a, b int) { bs[a], bs[b] = bs[b], bs[a] })
		got := PlanDescriptors(bs, 2, 6)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("plan depends on input order:\n%v\n%v", got, want)
		}
	}
}

// pairs returns the set of (backend, subset) assignments.
func pairs(p Plan) map[string]bool {
	m := map[string]bool{}
	for i, sub := range p.Subsets {
		for _, s := range sub {
			m[fmt.Sprintf("%s@%d", s.ID, i)] = true
		}
	}
	return m
}

func TestPlanMinimalChange(t *testing.T) {
	for _, n := range []int{12, 30, 59} {
		before := PlanDescriptors(backendsN(n, 2), 2, 6)
		after := planChecked(t, backendsN(n+1, 2), 2, 6) // one backend joins
		a, b := pairs(before), pairs(after)
		moved := 0
		for k := range a {
			if !b[k] {
				moved++
			}
		}
		// The newcomer takes its share of the 120 slots; others lose at most that many assignments,
		// plus a little repacking. Bound: twice the newcomer's fair share of assignments, plus 2.
		fair := 120/(2*(n+1)) + 1
		if moved > 2*fair+2 {
			t.Errorf("n=%d: %d of %d assignments moved when one backend joined (bound %d)", n, moved, len(a), 2*fair+2)
		}
	}
}

func TestSubsetForSkipsEmpty(t *testing.T) {
	p := Plan{Subsets: [][]Share{{{"a", []int{0, 1}}}, nil, {{"b", []int{0, 1}}}}}
	for pos, want := range []int{0, 2, 2, 0, 2, 2, 0, 2} {
		if got := p.SubsetFor(pos); got != want {
			t.Errorf("SubsetFor(%d) = %d, want %d", pos, got, want)
		}
	}
}

// randomBackends returns n backends with intros intro points each on distinct relays drawn from a
// network of relays relays (as tor picks its intro points: never two on one relay).
func randomBackends(r *rand.Rand, n, intros, relays int) []PlanBackend {
	bs := make([]PlanBackend, n)
	for i := range bs {
		bs[i].ID = fmt.Sprintf("backend%02d-%d", i, r.Int63())
		for _, k := range r.Perm(relays)[:min(intros, relays)] {
			bs[i].Relays = append(bs[i].Relays, fmt.Sprintf("relay%04d", k))
		}
	}
	return bs
}

func TestPlanOneIntroPointPerRelay(t *testing.T) {
	// Two backends on the same two relays: one descriptor, one intro point each, on different relays.
	bs := []PlanBackend{{"a", []string{"r1", "r2"}}, {"b", []string{"r1", "r2"}}}
	p := planChecked(t, bs, 2, 6)
	if len(p.Subsets) != 1 || len(p.Subsets[0]) != 2 {
		t.Fatalf("plan = %+v, want one descriptor with both backends", p)
	}
	// Three backends on the same two relays cannot share one descriptor: several descriptors, each
	// with two of them, together covering all three.
	bs = append(bs, PlanBackend{"c", []string{"r2", "r1"}})
	p = planChecked(t, bs, 2, 6)
	if len(p.Subsets) != 6 || len(p.Left) != 0 || len(p.Coverage()) != 3 {
		t.Fatalf("plan = %+v, want 6 descriptors covering a, b and c", p)
	}
	for i, sub := range p.Subsets {
		if len(sub) != 2 {
			t.Errorf("subset %d = %+v, want two backends", i, sub)
		}
	}
}

// TestPlanMatchesRelays: a backend with a choice of relays leaves the only relay of another one free,
// whichever of the two comes first.
func TestPlanMatchesRelays(t *testing.T) {
	for _, ids := range [][2]string{{"a1", "b1"}, {"b1", "a1"}, {"x", "y"}, {"y", "x"}} {
		bs := []PlanBackend{{ids[0], []string{"r1", "r2"}}, {ids[1], []string{"r1"}}}
		p := planChecked(t, bs, 1, 1)
		if len(p.Subsets) != 1 || len(p.Subsets[0]) != 2 || len(p.Left) != 0 {
			t.Errorf("%v: plan = %+v, want both in one descriptor", ids, p)
		}
		// With a share of 2 and 6 possible descriptors, still one descriptor: the first backend takes
		// r2 and r3, the second r1.
		bs = []PlanBackend{{ids[0], []string{"r1", "r2", "r3"}}, {ids[1], []string{"r1"}}}
		p = planChecked(t, bs, 2, 6)
		if len(p.Subsets) != 1 || len(p.Subsets[0]) != 2 {
			t.Fatalf("%v: plan = %+v, want one descriptor with both", ids, p)
		}
		for _, sh := range p.Subsets[0] {
			if want := map[string]int{ids[0]: 2, ids[1]: 1}[sh.ID]; len(sh.Intros) != want {
				t.Errorf("%v: %s has %d intro points, want %d", ids, sh.ID, len(sh.Intros), want)
			}
		}
	}
	// Two intro points of one backend on the same relay count once.
	bs := []PlanBackend{{"a", []string{"r1", "r1"}}, {"b", []string{"r2"}}}
	p := planChecked(t, bs, 2, 6)
	if len(p.Subsets) != 1 || len(p.Subsets[0]) != 2 {
		t.Fatalf("plan = %+v, want one descriptor with a (one intro point) and b", p)
	}
}

// TestPlanSmallNetwork is the private test network's case: 12 backends, 3 intro points each, on 8
// relays. A descriptor can carry at most 8 usable intro points, yet every backend must be in one.
func TestPlanSmallNetwork(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for run := range 500 {
		bs := randomBackends(r, 12, 3, 8)
		p := planChecked(t, bs, 2, 6)
		if len(p.Left) != 0 {
			t.Fatalf("run %d: left out %v\nplan %+v", run, p.Left, p)
		}
	}
}

// TestPlanLargeNetwork: 60 backends on a network the size of the real one keep their fair share.
func TestPlanLargeNetwork(t *testing.T) {
	r := rand.New(rand.NewSource(60))
	for run := range 50 {
		bs := randomBackends(r, 60, 3, 7000)
		p := planChecked(t, bs, 2, 6)
		if len(p.Left) != 0 || len(p.Coverage()) != 60 {
			t.Fatalf("run %d: %d covered, left out %v", run, len(p.Coverage()), p.Left)
		}
		n := 0
		for _, sub := range p.Subsets {
			for _, s := range sub {
				n += len(s.Intros)
			}
		}
		if n < 115 { // 120 slots; a rare relay shared by two backends costs one
			t.Errorf("run %d: %d intro points in 6 descriptors, want about 120", run, n)
		}
	}
}

// TestPlanRandomNetworks checks the invariants on random networks, and that a backend is left out only
// when no descriptor has room for it: each one is full or already uses every relay the backend has.
func TestPlanRandomNetworks(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for run := range 2000 {
		n, intros, relays, per, subsets := 1+r.Intn(80), 1+r.Intn(4), 1+r.Intn(40), 1+r.Intn(3), 1+r.Intn(8)
		bs := randomBackends(r, n, intros, relays)
		p := planChecked(t, bs, per, subsets)
		if t.Failed() {
			t.Fatalf("run %d: n=%d intros=%d relays=%d per=%d subsets=%d", run, n, intros, relays, per, subsets)
		}
		byID := map[string]PlanBackend{}
		for _, b := range bs {
			byID[b.ID] = b
		}
		for _, id := range p.Left {
			for si, sub := range p.Subsets {
				used, total := map[string]bool{}, 0
				for _, s := range sub {
					for _, j := range s.Intros {
						used[byID[s.ID].Relays[j]] = true
					}
					total += len(s.Intros)
				}
				for _, rl := range byID[id].Relays {
					if !used[rl] && total < MaxIntroPoints {
						t.Fatalf("run %d: %s left out, but subset %d (%d intro points) has its relay %s free",
							run, id, si, total, rl)
					}
				}
			}
		}
	}
}

// BenchmarkPlan60Backends plans the largest supported service: 60 backends with 3 intro points each on
// a network the size of the public one, 6 distinct descriptors.
func BenchmarkPlan60Backends(b *testing.B) {
	bs := randomBackends(rand.New(rand.NewSource(60)), 60, 3, 7000)
	for b.Loop() {
		PlanDescriptors(bs, 2, 6)
	}
}

// BenchmarkPlanCrowded plans 12 backends on the private test network's 8 relays.
func BenchmarkPlanCrowded(b *testing.B) {
	bs := randomBackends(rand.New(rand.NewSource(8)), 12, 3, 8)
	for b.Loop() {
		PlanDescriptors(bs, 2, 6)
	}
}
