package health

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

func TestAssignCoversEveryBackendEachRound(t *testing.T) {
	for _, nb := range []int{1, 2, 3, 5, 10, 61} {
		for _, nn := range []int{1, 2, 3, 5} {
			backends, nodes := names("b", nb), names("n", nn)
			for round := int64(1_000_000); round < 1_000_000+int64(2*nn+1); round++ {
				seen := map[string]int{}
				for _, n := range nodes {
					got := Assign(backends, nodes, n, round)
					if want := min(nb, 2); len(got) < want {
						t.Errorf("%d backends, %d nodes, round %d: node %s probes %d, want at least %d", nb, nn, round, n, len(got), want)
					}
					if limit := max((nb+nn-1)/nn, min(nb, 2)); len(got) > limit {
						t.Errorf("%d backends, %d nodes: node %s probes %d, more than its share %d", nb, nn, n, len(got), limit)
					}
					for _, b := range got {
						seen[b]++
					}
				}
				for _, b := range backends {
					if seen[b] == 0 {
						t.Fatalf("%d backends, %d nodes, round %d: %s probed by no node", nb, nn, round, b)
					}
				}
			}
		}
	}
}

func TestAssignRotatesVantagePoints(t *testing.T) {
	backends, nodes := names("b", 9), names("n", 3)
	by := map[string]map[string]bool{} // backend -> nodes that probed it
	for round := int64(500); round < 503; round++ {
		for _, n := range nodes {
			for _, b := range Assign(backends, nodes, n, round) {
				if by[b] == nil {
					by[b] = map[string]bool{}
				}
				by[b][n] = true
			}
		}
	}
	for _, b := range backends {
		if len(by[b]) != len(nodes) {
			t.Errorf("over %d rounds %s was probed by %d nodes, want every one of %d", len(nodes), b, len(by[b]), len(nodes))
		}
	}
}

func TestAssignInputsAndUnknownNode(t *testing.T) {
	backends, nodes := []string{"c", "a", "b", "a"}, []string{"y", "x"}
	if got := Assign(backends, nodes, "z", 7); got != nil {
		t.Errorf("a node not in the list probes %v, want nothing", got)
	}
	got := Assign(backends, nodes, "x", 7)
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Assign = %v, want sorted and without duplicates", got)
	}
	if !slices.Equal(got, Assign([]string{"a", "b", "c"}, []string{"x", "y"}, "x", 7)) {
		t.Error("the order and duplicates of the inputs change the assignment")
	}
}

func TestRoundAlignsOnTheClock(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	if Round(base, 30*time.Second) != Round(base.Add(29*time.Second), 30*time.Second) {
		t.Error("times 29 s apart in one 30 s round got different rounds")
	}
	if Round(base.Add(29*time.Second), 30*time.Second)+1 != Round(base.Add(30*time.Second), 30*time.Second) {
		t.Error("the next 30 s did not start the next round")
	}
}
