package scale

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cycleResult is one measured full cycle.
type cycleResult struct {
	Services    int     `json:"services"`
	Backends    int     `json:"backends_per_service"`
	Concurrency int     `json:"concurrency"`
	WallS       float64 `json:"wall_s"`
	CPUS        float64 `json:"cpu_s"`
	HeapMiB     float64 `json:"heap_growth_mib"` // live heap after GC, minus before the node started
	RSSMiB      float64 `json:"rss_mib"`         // VmRSS of the whole process at the end
	Writes      int64   `json:"etcd_writes"`
	Bytes       int64   `json:"etcd_bytes"`
	Posts       int     `json:"hsposts"`
	Fetches     int     `json:"hsfetches"`
}

// envInts reads a comma-separated list of integers from name, or def.
func envInts(t *testing.T, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			t.Fatalf("%s=%q: want a comma-separated list of counts", name, v)
		}
		out = append(out, n)
	}
	return out
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScaleCycle measures a new leader's full cycle for each count of services in OB_SCALE_SERVICES
// (default 1,10,100) with OB_SCALE_BACKENDS backends each (default 10): from the node's start (it wins
// the election at once) until every service has both descriptors uploaded with every backend's intro
// points and every upload acknowledged and recorded in etcd. OB_SCALE_CONCURRENCY sets the
// publisher's concurrency (0: its default); OB_SCALE_OUT names a file that gets one JSON line per run;
// OB_SCALE_CPUPROFILE a CPU profile of the largest run, OB_SCALE_HEAPPROFILE its heap at the end.
func TestScaleCycle(t *testing.T) {
	if os.Getenv("OB_SCALE") == "" {
		t.Skip("set OB_SCALE=1 (bench/run -scale runs this)")
	}
	counts := envInts(t, "OB_SCALE_SERVICES", []int{1, 10, 100})
	nbe := envInts(t, "OB_SCALE_BACKENDS", []int{10})[0]
	conc := envInts(t, "OB_SCALE_CONCURRENCY", []int{0})[0]
	for i, nsvc := range counts {
		t.Run(fmt.Sprintf("services=%d", nsvc), func(t *testing.T) {
			prof, heap := "", ""
			if i == len(counts)-1 {
				prof, heap = os.Getenv("OB_SCALE_CPUPROFILE"), os.Getenv("OB_SCALE_HEAPPROFILE")
			}
			r := runCycle(t, nsvc, nbe, conc, prof, heap)
			t.Logf("%d services x %d backends: %.1f s wall, %.1f CPU s, heap +%.1f MiB, RSS %.0f MiB, %d etcd writes (%.1f per service, %.1f KiB per service), %d HSFETCH, %d HSPOST",
				nsvc, nbe, r.WallS, r.CPUS, r.HeapMiB, r.RSSMiB, r.Writes, float64(r.Writes)/float64(nsvc),
				float64(r.Bytes)/1024/float64(nsvc), r.Fetches, r.Posts)
			writeResult(t, r)
		})
	}
}

func runCycle(t *testing.T, nsvc, nbe, conc int, profile, heapProfile string) cycleResult {
	w := newWorld(t, nsvc, nbe, 50)
	heap0 := liveHeap()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	u0, start := getUsage(), time.Now()
	n := w.startNode("obhost1", conc)
	if _, err := n.waitPublished(nsvc, 2*nbe, start, 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	wall, u1 := time.Since(start), getUsage()
	r := cycleResult{Services: nsvc, Backends: nbe, Concurrency: conc, WallS: wall.Seconds(), CPUS: (u1.cpu - u0.cpu).Seconds(),
		RSSMiB: float64(currentRSS()) / (1 << 20), Writes: n.recs.writes.Load(), Bytes: n.recs.bytes.Load(),
		Posts: len(n.srv.Posts()), Fetches: len(n.srv.Fetches())}
	r.HeapMiB = float64(int64(liveHeap())-int64(heap0)) / (1 << 20)
	if heapProfile != "" {
		f, err := os.Create(heapProfile)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	n.stop()
	return r
}

func writeResult(t *testing.T, r any) {
	path := os.Getenv("OB_SCALE_OUT")
	if path == "" {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}
