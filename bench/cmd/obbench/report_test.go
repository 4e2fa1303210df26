package main

import (
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/bench/internal/probe"
)

func TestMedianCountsBoundHitsAsInfinite(t *testing.T) {
	s := func(n int) optDuration { return optDuration{D: time.Duration(n) * time.Second, OK: true} }
	miss := optDuration{}
	cases := []struct {
		in   []optDuration
		want time.Duration
		ok   bool
	}{
		{[]optDuration{s(3), s(1), s(2)}, 2 * time.Second, true},
		{[]optDuration{s(1), miss, s(5)}, 5 * time.Second, true},
		{[]optDuration{s(1), miss, miss}, 0, false},
		{[]optDuration{s(1), s(4)}, 2500 * time.Millisecond, true},
		{nil, 0, false},
	}
	for _, c := range cases {
		got, ok := median(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestGoBenchNs(t *testing.T) {
	out := []byte("goos: linux\nBenchmarkEncode20-2   \t    1234\t    987654 ns/op\t  1 B/op\nBenchmarkDecode20-2 \t 10 \t 1.5e+05 ns/op\t 300.00 MB/s\nPASS\n")
	if got := goBenchNs(out, "BenchmarkEncode20"); got != 987654 {
		t.Errorf("Encode20 = %v, want 987654", got)
	}
	if got := goBenchNs(out, "BenchmarkDecode20"); got != 150000 {
		t.Errorf("Decode20 = %v, want 150000", got)
	}
	if got := goBenchNs(out, "BenchmarkOther"); got != 0 {
		t.Errorf("missing benchmark = %v, want 0", got)
	}
}

func TestCountWith(t *testing.T) {
	copies := []probe.Copy{
		{HSDir: "A", AuthKeys: []string{"k1", "k2"}},
		{HSDir: "B", AuthKeys: []string{"k3"}},
		{HSDir: "C", Err: "NOT_FOUND"},
	}
	serving, with := countWith(copies, map[string]bool{"k2": true})
	if serving != 2 || with != 1 {
		t.Errorf("countWith = %d, %d; want 2, 1", serving, with)
	}
}

func TestSpliceSection(t *testing.T) {
	doc := "# T\n\n| a |\n\n## Ours\n\nx\n\n## Details\n\n- d\n"
	in := spliceSection(doc, "## Steady", "## Details", "## Steady\n\nS1\n\n")
	if want := "# T\n\n| a |\n\n## Ours\n\nx\n\n## Steady\n\nS1\n\n## Details\n\n- d\n"; in != want {
		t.Fatalf("insert:\n%s\nwant\n%s", in, want)
	}
	again := spliceSection(in, "## Steady", "## Details", "## Steady\n\nS2\n\n")
	if want := "# T\n\n| a |\n\n## Ours\n\nx\n\n## Steady\n\nS2\n\n## Details\n\n- d\n"; again != want {
		t.Fatalf("replace:\n%s\nwant\n%s", again, want)
	}
}

func TestSectionKeptAcrossRewrites(t *testing.T) {
	old := "# T\n\n## Scale: x\n\nfigures\n\n## Details\n\n- d\n"
	sc := section(old, "## Scale: x")
	if sc != "## Scale: x\n\nfigures\n\n" {
		t.Fatalf("section = %q", sc)
	}
	fresh := "# T2\n\n## Details\n\n- e\n"
	if got, want := spliceSection(fresh, "## Scale: x", "## Details", sc), "# T2\n\n## Scale: x\n\nfigures\n\n## Details\n\n- e\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if section(fresh, "## Scale: x") != "" {
		t.Fatal("a section that is not there")
	}
}

// Every one of our idle balancers gets its own ratio to the Python tool.
func TestIdleMarkdownRatioPerBalancer(t *testing.T) {
	w := 2 * time.Minute
	r := &results{Idle: []idleResult{
		{Label: "Python OnionBalance", Kind: kindPython, Window: w, CPUSeconds: 0.6, Switches: 2000, EtcdWrites: -1, OK: true},
		{Label: "ours", Kind: kindOurs, Window: w, CPUSeconds: 0.9, Switches: 8000, EtcdWrites: 40, OK: true},
		{Label: "ours at its defaults", Kind: kindOurs, Window: w, CPUSeconds: 0.48, Switches: 6000, EtcdWrites: 8, OK: true},
	}}
	md := r.idleMarkdown(false)
	for _, want := range []string{
		"| Measure | Python OnionBalance | ours | ours at its defaults | ours / Python | ours at its defaults / Python |\n|---|---|---|---|---|---|\n",
		"| CPU seconds per minute | 0.300 | 0.450 | 0.240 | 1.50 | 0.80 |\n",
		"| etcd writes per minute | — | 20.0 | 4.0 | — | — |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("idle section lacks %q:\n%s", want, md)
		}
	}
}
