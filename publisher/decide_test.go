package publisher

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	timing := Timing{Refresh: time.Hour, RetryMin: 10 * time.Second, RetryMax: 5 * time.Minute}
	dirs := []string{"A", "B", "C"}
	want := Want{Period: 7, Blinded: [32]byte{1}, IntroSet: "x", HSDirs: dirs}
	last := Published{Period: 7, Blinded: [32]byte{1}, IntroSet: "x", HSDirs: []string{"C", "B", "A"}, UploadedAt: t0}

	cases := []struct {
		name    string
		last    Published
		want    Want
		now     time.Time
		publish bool
		reason  string
		targets int
	}{
		{"never", Published{}, want, t0, true, "never published", 3},
		{"up to date", last, want, t0.Add(time.Minute), false, "up to date", 0},
		{"new period", last, Want{Period: 8, Blinded: [32]byte{2}, IntroSet: "x", HSDirs: dirs}, t0, true, "new time period", 3},
		{"intro change", last, Want{Period: 7, Blinded: [32]byte{1}, IntroSet: "y", HSDirs: dirs}, t0, true, "intro points changed", 3},
		{"hsdir change", last, Want{Period: 7, Blinded: [32]byte{1}, IntroSet: "x", HSDirs: []string{"A", "B", "D"}}, t0, true, "responsible HSDirs changed", 3},
		{"split change", last, Want{Period: 7, Blinded: [32]byte{1}, IntroSet: "x", Split: "s", HSDirs: dirs}, t0, true, "backends moved between descriptors", 3},
		{"refresh", last, want, t0.Add(time.Hour), true, "refresh interval passed", 3},
		{"new leader", last, Want{Period: 7, Blinded: [32]byte{1}, IntroSet: "x", HSDirs: dirs, Epoch: 9}, t0, true, "new leader", 3},
		{"no hsdirs", Published{}, Want{Period: 7}, t0, false, "no responsible HSDirs", 0},
	}
	for _, c := range cases {
		d := Decide(c.last, c.want, c.now, timing)
		if d.Publish != c.publish || d.Reason != c.reason || len(d.Targets) != c.targets {
			t.Errorf("%s: got %+v", c.name, d)
		}
	}
}

func TestDecideRetriesOnlyFailedWithBackoff(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	timing := Timing{Refresh: time.Hour, RetryMin: 10 * time.Second, RetryMax: 40 * time.Second}
	want := Want{Period: 1, IntroSet: "x", HSDirs: []string{"A", "B", "C"}}
	last := Published{Period: 1, IntroSet: "x", HSDirs: want.HSDirs, UploadedAt: t0,
		Failed: map[string]Failure{"B": {Attempts: 1, LastTry: t0}, "C": {Attempts: 3, LastTry: t0}}}

	if d := Decide(last, want, t0.Add(9*time.Second), timing); d.Publish {
		t.Fatalf("retried before the backoff: %+v", d)
	}
	d := Decide(last, want, t0.Add(10*time.Second), timing)
	if !d.Publish || !d.Retry || len(d.Targets) != 1 || d.Targets[0] != "B" {
		t.Fatalf("after 10s want a retry of B only, got %+v", d)
	}
	// Third attempt: 10s * 2 * 2 = 40s (the cap).
	d = Decide(last, want, t0.Add(40*time.Second), timing)
	if len(d.Targets) != 2 {
		t.Fatalf("after 40s want B and C, got %+v", d)
	}
	if got := backoff(10, time.Second, time.Minute); got != time.Minute {
		t.Errorf("backoff not capped: %s", got)
	}
}

func TestNextRevision(t *testing.T) {
	if got := NextRevision(100, 50); got != 100 {
		t.Errorf("NextRevision(100, 50) = %d", got)
	}
	if got := NextRevision(100, 100); got != 101 {
		t.Errorf("NextRevision(100, 100) = %d: must exceed the last published", got)
	}
	if got := NextRevision(90, 100); got != 101 {
		t.Errorf("NextRevision(90, 100) = %d: a slow clock must not go backwards", got)
	}
}

func TestDigestSplit(t *testing.T) {
	a := map[string][]string{"H1": {"b1", "b2"}, "H2": {"b3"}}
	same := map[string][]string{"H2": {"b3"}, "H1": {"b2", "b1"}}
	if digestSplit(a) != digestSplit(same) {
		t.Error("the digest depends on the order of HSDirs or backends")
	}
	for name, other := range map[string]map[string][]string{
		"backend moved":      {"H1": {"b1"}, "H2": {"b2", "b3"}},
		"HSDirs swapped":     {"H1": {"b3"}, "H2": {"b1", "b2"}},
		"HSDir without desc": {"H1": {"b1", "b2"}},
		"names run together": {"H1": {"b1b2"}, "H2": {"b3"}},
	} {
		if digestSplit(a) == digestSplit(other) {
			t.Errorf("%s: same digest", name)
		}
	}
}

func TestNextRevisionSaturatesAtTheMaximum(t *testing.T) {
	const top = ^uint64(0)
	for _, tc := range []struct{ timeBased, last uint64 }{{5, top}, {top, top}, {top, top - 1}, {0, top}} {
		if got := NextRevision(tc.timeBased, tc.last); got != top {
			t.Errorf("NextRevision(%d, %d) = %d, want %d: the counter must stay at the maximum, never wrap to 0",
				tc.timeBased, tc.last, got, top)
		}
	}
}
