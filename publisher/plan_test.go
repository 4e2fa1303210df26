package publisher

import (
	"fmt"
	"math/rand"
	"testing"
)

func backendsN(n, intros int) []PlanBackend {
	bs := make([]PlanBackend, n)
	for i := range bs {
		bs[i] = PlanBackend{ID: fmt.Sprintf("backend%02d", i), IntroPoints: intros}
	}
	return bs
}

func checkCap(t *testing.T, p Plan) {
	t.Helper()
	for i, sub := range p.Subsets {
		n := 0
		seen := map[string]bool{}
		for _, s := range sub {
			n += s.IntroPoints
			if seen[s.ID] {
				t.Errorf("subset %d lists %s twice", i, s.ID)
			}
			seen[s.ID] = true
		}
		if n > MaxIntroPoints {
			t.Errorf("subset %d has %d intro points, more than %d", i, n, MaxIntroPoints)
		}
	}
}

func TestPlanFitsInOneDescriptor(t *testing.T) {
	p := PlanDescriptors(backendsN(10, 3), 2, 6)
	if len(p.Subsets) != 1 || len(p.Subsets[0]) != 10 || len(p.Left) != 0 {
		t.Fatalf("plan = %+v", p)
	}
	for _, s := range p.Subsets[0] {
		if s.IntroPoints != 2 {
			t.Errorf("%s gets %d intro points, want its fair share 2", s.ID, s.IntroPoints)
		}
	}
	// A backend with fewer intro points than its share contributes what it has; one with none is skipped.
	bs := []PlanBackend{{"a", 1}, {"b", 0}, {"c", 5}}
	p = PlanDescriptors(bs, 2, 6)
	cov := p.Coverage()
	if len(p.Subsets) != 1 || cov["a"] != 1 || cov["b"] != 0 || cov["c"] != 1 {
		t.Fatalf("plan = %+v", p)
	}
	if got := PlanDescriptors(nil, 2, 6); len(got.Subsets) != 0 || got.SubsetFor(0) != -1 {
		t.Fatalf("empty plan = %+v", got)
	}
}

func TestPlan60Backends(t *testing.T) {
	p := PlanDescriptors(backendsN(60, 2), 2, 6)
	checkCap(t, p)
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
	p := PlanDescriptors(backendsN(12, 2), 2, 6)
	checkCap(t, p)
	for id, c := range p.Coverage() {
		if c != 5 {
			t.Errorf("%s in %d subsets, want 5", id, c)
		}
	}
	// 25 backends: 50 intro points, 2 copies each (100), then 10 get a third copy.
	p = PlanDescriptors(backendsN(25, 2), 2, 6)
	checkCap(t, p)
	hist := map[int]int{}
	for _, c := range p.Coverage() {
		hist[c]++
	}
	if hist[2]+hist[3] != 25 || hist[3] > 10 || hist[3] < 9 {
		t.Errorf("copy histogram %v, want 25 backends with 2 or 3 copies, about 10 with 3", hist)
	}
}

func TestPlanOverBudgetLeavesSomeOut(t *testing.T) {
	p := PlanDescriptors(backendsN(70, 2), 2, 6)
	checkCap(t, p)
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
		after := PlanDescriptors(backendsN(n+1, 2), 2, 6) // one backend joins
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
		checkCap(t, after)
	}
}

func TestSubsetForSkipsEmpty(t *testing.T) {
	p := Plan{Subsets: [][]Share{{{"a", 2}}, nil, {{"b", 2}}}}
	for pos, want := range []int{0, 2, 2, 0, 2, 2, 0, 2} {
		if got := p.SubsetFor(pos); got != want {
			t.Errorf("SubsetFor(%d) = %d, want %d", pos, got, want)
		}
	}
}
