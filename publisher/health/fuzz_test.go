package health

import (
	"testing"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

// FuzzJudge feeds Judge and Exclude arbitrary probe reports (they come from etcd, written by any node)
// and checks the invariants: no panic, one verdict per backend, a verdict only up or down, and never
// more excluded than the cap.
func FuzzJudge(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, int64(40))
	f.Add([]byte{0xff, 0x10, 0x22, 0x31, 0x44}, int64(-5))
	outs := []Outcome{Connected, Answered, IntroFailed, DescNotFound, Timeout, Failed, ProberError, "junk"}
	f.Fuzz(func(t *testing.T, data []byte, nowOffset int64) {
		c := testConfig()
		addrs := []string{"a", "b", "c"}
		reps := map[string]*record.ProbeReport{}
		for i := 0; i+2 < len(data); i += 3 {
			node := string(rune('m' + data[i]%3))
			rep := reps[node]
			if rep == nil {
				rep = &record.ProbeReport{Node: node, TorReady: data[i]&0x80 == 0}
				reps[node] = rep
			}
			at := t0.Add(time.Duration(int8(data[i+1])) * time.Second)
			rep.Results = append(rep.Results, record.ProbeResult{Backend: addrs[int(data[i+2])%len(addrs)],
				Round: Round(at, c.Interval), At: at, Outcome: string(outs[int(data[i+2]>>2)%len(outs)])})
		}
		var list []record.ProbeReport
		for _, r := range reps {
			list = append(list, *r)
		}
		prev := map[string]record.BackendHealth{"a": {Address: "a", State: record.HealthDown, Since: t0}, "b": {State: "weird"}}
		v := Judge(Input{Now: t0.Add(time.Duration(nowOffset) * time.Second), Config: c,
			Backends: backends(c, map[string]uint64{"a": uint64(len(data))}, addrs...), Reports: list, Previous: prev})
		if len(v.Health) != len(addrs) {
			t.Fatalf("%d verdicts for %d backends", len(v.Health), len(addrs))
		}
		for a, h := range v.Health {
			if h.Address != a || (h.State != record.HealthUp && h.State != record.HealthDown) {
				t.Fatalf("verdict %+v for %s", h, a)
			}
		}
		ex, _ := Exclude(addrs, v.Health, c.Rules)
		if len(ex) > c.Rules.MaxDown(len(addrs)) {
			t.Fatalf("excluded %d of %d", len(ex), len(addrs))
		}
	})
}
