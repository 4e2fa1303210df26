package health

import (
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

var t0 = time.Unix(1_800_000_000, 0).UTC()

// testConfig probes every 10 s and takes a backend down after 3 failures over at least 20 s.
func testConfig() Config {
	c := DefaultConfig()
	c.Interval, c.MinDownTime = 10*time.Second, 20*time.Second
	return c
}

// reports builds probe reports: rounds[i] holds, for round i (10 s apart from t0), each node's
// outcome per backend.
type outcomes map[string]map[string]Outcome // node -> backend -> outcome

func reports(c Config, rounds ...outcomes) []record.ProbeReport {
	byNode := map[string]*record.ProbeReport{}
	var order []string
	for i, r := range rounds {
		at := t0.Add(time.Duration(i) * c.Interval)
		for node, res := range r {
			rep := byNode[node]
			if rep == nil {
				rep = &record.ProbeReport{Node: node, TorReady: true, IntervalMS: c.Interval.Milliseconds()}
				byNode[node] = rep
				order = append(order, node)
			}
			for b, o := range res {
				rep.Results = append(rep.Results, record.ProbeResult{Backend: b, Port: 80, Round: Round(at, c.Interval),
					At: at, Outcome: string(o), LatencyMS: 500})
			}
			rep.At = at
		}
	}
	var out []record.ProbeReport
	for _, n := range order {
		out = append(out, *byNode[n])
	}
	return out
}

func backends(c Config, revs map[string]uint64, addrs ...string) []Backend {
	var out []Backend
	for _, a := range addrs {
		out = append(out, Backend{Address: a, Revision: revs[a], Rules: c.Rules})
	}
	return out
}

func judgeAt(c Config, now time.Time, bs []Backend, reps []record.ProbeReport, prev map[string]record.BackendHealth) Verdict {
	return Judge(Input{Now: now, Config: c, Backends: bs, Reports: reps, Previous: prev})
}

func upAll(addrs ...string) map[string]record.BackendHealth {
	out := map[string]record.BackendHealth{}
	for _, a := range addrs {
		out[a] = record.BackendHealth{Address: a, State: record.HealthUp, Since: t0.Add(-time.Hour)}
	}
	return out
}

func oneNode(a, b Outcome) outcomes { return outcomes{"n1": {"a": a, "b": b}} }

func TestJudgeDeadBackendGoesDown(t *testing.T) {
	c := testConfig()
	reps := reports(c, oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected), oneNode(IntroTimeout, Connected))
	now := t0.Add(25 * time.Second)
	v := judgeAt(c, now, backends(c, map[string]uint64{"a": 7}, "a", "b"), reps, upAll("a", "b"))
	a := v.Health["a"]
	if a.State != record.HealthDown || v.Health["b"].State != record.HealthUp {
		t.Fatalf("health = %+v, want a down and b up", v.Health)
	}
	if a.DownRevision != 7 || !a.Since.Equal(now) || !strings.Contains(a.Reason, "3 failures from 1 node over 20s") ||
		!strings.Contains(a.Reason, "intro-timeout") {
		t.Errorf("verdict on a = %+v", a)
	}
	if len(v.Changed) != 1 || v.Changed[0] != "a" {
		t.Errorf("Changed = %v, want [a]", v.Changed)
	}
	if len(v.ProbeNow) != 0 {
		t.Errorf("ProbeNow = %v, want none: the revision did not change", v.ProbeNow)
	}
	if !v.Health["b"].LastAlive.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("b's LastAlive = %v, want its last success", v.Health["b"].LastAlive)
	}
}

func TestJudgeNeedsFailuresOverMinDownTime(t *testing.T) {
	c := testConfig()
	c.MinDownTime = 30 * time.Second
	reps := reports(c, oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected))
	v := judgeAt(c, t0.Add(25*time.Second), backends(c, nil, "a", "b"), reps, upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp {
		t.Errorf("3 failures over 20 s took a down with min-down-time 30s: %+v", v.Health["a"])
	}
	// A success between failures starts the count again.
	c = testConfig()
	reps = reports(c, oneNode(IntroFailed, Connected), oneNode(Connected, Connected), oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected))
	v = judgeAt(c, t0.Add(35*time.Second), backends(c, nil, "a", "b"), reps, upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp {
		t.Errorf("failures interrupted by a success took a down: %+v", v.Health["a"])
	}
}

func TestJudgeIgnoresAProberThatSeesNothingAlive(t *testing.T) {
	c := testConfig()
	// The node's tor lost the network: every probe fails, round after round.
	var rounds []outcomes
	for range 8 {
		rounds = append(rounds, oneNode(DescNotFound, Timeout))
	}
	v := judgeAt(c, t0.Add(75*time.Second), backends(c, nil, "a", "b"), reports(c, rounds...), upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp || v.Health["b"].State != record.HealthUp || len(v.Changed) != 0 {
		t.Errorf("a prober that saw nothing alive took backends down: %+v", v.Health)
	}
	// A report whose tor is not ready does not count either, even if it saw a backend alive.
	reps := reports(c, oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected))
	reps[0].TorReady = false
	v = judgeAt(c, t0.Add(25*time.Second), backends(c, nil, "a", "b"), reps, upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp {
		t.Errorf("a report with tor_ready false counted: %+v", v.Health["a"])
	}
	// Inconclusive outcomes are not failures.
	reps = reports(c, oneNode(Failed, Connected), oneNode(ProberError, Connected), oneNode(AuthMissing, Connected), oneNode(Failed, Connected))
	v = judgeAt(c, t0.Add(35*time.Second), backends(c, nil, "a", "b"), reps, upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp {
		t.Errorf("inconclusive outcomes took a down: %+v", v.Health["a"])
	}
}

func TestJudgeNeedsTwoNodesWhenThereAreTwo(t *testing.T) {
	c := testConfig()
	// n1 sees a fail; n2 sees it alive... then a is only probed by n1 (n2 probes b alone is impossible
	// with two backends, so n2 sees b only and a is never failed by n2).
	r := func() outcomes { return outcomes{"n1": {"a": IntroFailed, "b": Connected}, "n2": {"b": Connected}} }
	v := judgeAt(c, t0.Add(35*time.Second), backends(c, nil, "a", "b"), reports(c, r(), r(), r(), r()), upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp {
		t.Errorf("failures from one node of two took a down: %+v", v.Health["a"])
	}
	r2 := func(failer string) outcomes {
		return outcomes{failer: {"a": IntroFailed, "b": Connected}}
	}
	v = judgeAt(c, t0.Add(25*time.Second), backends(c, nil, "a", "b"), reports(c, r2("n1"), r2("n2"), r2("n1")), upAll("a", "b"))
	if h := v.Health["a"]; h.State != record.HealthDown || !strings.Contains(h.Reason, "from 2 nodes") {
		t.Errorf("failures from both nodes: %+v, want down from 2 nodes", h)
	}
}

func TestJudgeComesBack(t *testing.T) {
	c := testConfig()
	down := upAll("a", "b")
	down["a"] = record.BackendHealth{Address: "a", State: record.HealthDown, Since: t0.Add(-time.Minute), DownRevision: 7, Reason: "x"}
	bs := backends(c, map[string]uint64{"a": 7}, "a", "b")

	// Leader change: no results yet, the verdict in force carries on.
	v := judgeAt(c, t0, bs, nil, down)
	if v.Health["a"].State != record.HealthDown {
		t.Fatalf("a down backend came back with no evidence: %+v", v.Health["a"])
	}
	// One success is not enough...
	v = judgeAt(c, t0.Add(5*time.Second), bs, reports(c, oneNode(Connected, Connected)), down)
	if v.Health["a"].State != record.HealthDown {
		t.Errorf("one success brought a back: %+v", v.Health["a"])
	}
	// ...two are.
	v = judgeAt(c, t0.Add(15*time.Second), bs, reports(c, oneNode(Connected, Connected), oneNode(Answered, Connected)), down)
	if h := v.Health["a"]; h.State != record.HealthUp || h.DownRevision != 0 || !strings.Contains(h.Reason, "2 successful probes") {
		t.Errorf("two successes: %+v, want up", h)
	}
	if len(v.Changed) != 1 || v.Changed[0] != "a" {
		t.Errorf("Changed = %v", v.Changed)
	}

	// A new descriptor revision: probe at once, and one success brings it back.
	bs = backends(c, map[string]uint64{"a": 8}, "a", "b")
	v = judgeAt(c, t0, bs, reports(c, oneNode(IntroFailed, Connected)), down)
	if len(v.ProbeNow) != 1 || v.ProbeNow[0] != "a" || v.Health["a"].State != record.HealthDown {
		t.Errorf("new revision while failing: ProbeNow = %v, health %+v; want a probed at once, still down", v.ProbeNow, v.Health["a"])
	}
	v = judgeAt(c, t0.Add(5*time.Second), bs, reports(c, oneNode(Connected, Connected)), down)
	if h := v.Health["a"]; h.State != record.HealthUp || !strings.Contains(h.Reason, "revision 8") {
		t.Errorf("new revision and one success: %+v, want up", h)
	}
}

func TestJudgeForgetsOldResults(t *testing.T) {
	c := testConfig()
	reps := reports(c, oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected), oneNode(IntroFailed, Connected))
	v := judgeAt(c, t0.Add(time.Hour), backends(c, nil, "a", "b"), reps, upAll("a", "b"))
	if v.Health["a"].State != record.HealthUp {
		t.Errorf("failures an hour old took a down: %+v", v.Health["a"])
	}
}

func TestExcludeCapsTheShareRemoved(t *testing.T) {
	r := DefaultRules() // at most half
	h := map[string]record.BackendHealth{
		"a": {Address: "a", State: record.HealthDown, Since: t0.Add(2 * time.Minute), Reason: "ra"},
		"b": {Address: "b", State: record.HealthDown, Since: t0, Reason: "rb"},
		"c": {Address: "c", State: record.HealthDown, Since: t0.Add(time.Minute), Reason: "rc"},
		"d": {Address: "d", State: record.HealthUp},
	}
	ex, kept := Exclude([]string{"a", "b", "c", "d"}, h, r)
	if len(ex) != 2 || ex["b"] != "down: rb" || ex["c"] != "down: rc" {
		t.Errorf("excluded = %v, want b and c (down longest)", ex)
	}
	if len(kept) != 1 || !strings.Contains(kept["a"], "at most 2 of 4") {
		t.Errorf("kept = %v, want a, naming the cap", kept)
	}
	if ex, _ := Exclude([]string{"b"}, h, r); len(ex) != 0 {
		t.Errorf("the only backend of a service was excluded: %v", ex)
	}
	r.Enabled = false
	if ex, kept := Exclude([]string{"a", "b", "c", "d"}, h, r); len(ex)+len(kept) != 0 {
		t.Errorf("disabled rules excluded %v", ex)
	}
}
