package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// optDuration is a timing that may have hit its bound.
type optDuration struct {
	D  time.Duration `json:"d"`
	OK bool          `json:"ok"`
}

// sideResult is what the sequential runs measured for one balancer.
type sideResult struct {
	Reach     []optDuration   `json:"reach"`
	Restarts  []restartResult `json:"restarts"`
	Spread    map[string]int  `json:"spread"`
	Usage     usage           `json:"usage"`
	UsageOK   bool            `json:"usage_ok"`
	StopClean []bool          `json:"stop_clean"`
	Notes     []string        `json:"notes,omitempty"`
}

type results struct {
	Date      time.Time      `json:"date"`
	CPUs      int            `json:"cpus"`
	RAM       string         `json:"ram"`
	Load      string         `json:"load"`
	Tor       string         `json:"tor"`
	PythonOB  string         `json:"python_onionbalance"`
	Go        string         `json:"go"`
	Command   string         `json:"command"`
	Repeats   int            `json:"repeats"`
	Window    time.Duration  `json:"window"`
	KillBound time.Duration  `json:"kill_bound"`
	Python    sideResult     `json:"python"`
	Ours      sideResult     `json:"ours"`
	Kill      []killResult   `json:"kill"`
	Failover  failoverResult `json:"failover"`
	Micro     microResult    `json:"micro"`
	Idle      []idleResult   `json:"idle"`
	Elapsed   time.Duration  `json:"elapsed"`
}

func (r *results) fillMachine(ctx context.Context, b *bench) {
	r.Date = time.Now().UTC()
	r.CPUs = runtime.NumCPU()
	if mi, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				r.RAM = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.Load = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	if out, err := exec.CommandContext(ctx, b.torPath, "--version").Output(); err == nil {
		r.Tor = strings.TrimSuffix(strings.SplitN(string(out), "\n", 2)[0], ".")
	}
	if out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", "onionbalance").Output(); err == nil {
		r.PythonOB = string(out)
	}
	r.Go = runtime.Version()
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// median of timings; a value that hit its bound counts as +Inf.
func median(ds []optDuration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = math.Inf(1)
		if d.OK {
			v[i] = float64(d.D)
		}
	}
	sort.Float64s(v)
	var m float64
	if len(v)%2 == 1 {
		m = v[len(v)/2]
	} else {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	if math.IsInf(m, 1) {
		return 0, false
	}
	return time.Duration(m), true
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) }

// cell formats a median and the individual values.
func cell(ds []optDuration, bound string) string {
	if len(ds) == 0 {
		return "not measured"
	}
	var parts []string
	for _, d := range ds {
		if d.OK {
			parts = append(parts, secs(d.D))
		} else {
			parts = append(parts, "> "+bound)
		}
	}
	m, ok := median(ds)
	if !ok {
		return fmt.Sprintf("not within %s (%s)", bound, strings.Join(parts, ", "))
	}
	if len(ds) == 1 {
		return secs(m)
	}
	return fmt.Sprintf("**%s** (%s)", secs(m), strings.Join(parts, ", "))
}

func ratio(a, b []optDuration) string {
	ma, okA := median(a)
	mb, okB := median(b)
	if !okA || !okB || mb == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(ma)/float64(mb))
}

func ratioF(ours, py float64) string {
	if ours == 0 || py == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", ours/py)
}

func restartTimes(rs []restartResult, all bool) []optDuration {
	var out []optDuration
	for _, r := range rs {
		if all {
			out = append(out, optDuration{r.All, r.AllOK})
		} else {
			out = append(out, optDuration{r.First, r.FirstOK})
		}
	}
	return out
}

func spreadCell(s map[string]int) string {
	if len(s) == 0 {
		return "not measured"
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, s[k]))
	}
	return strings.Join(parts, ", ")
}

func stopCell(s []bool) string {
	n := 0
	for _, ok := range s {
		if ok {
			n++
		}
	}
	return fmt.Sprintf("%d of %d", n, len(s))
}

func (r *results) kill(k kind) []optDuration {
	for _, kr := range r.Kill {
		if kr.Kind == k {
			return []optDuration{{kr.Gone, kr.OK}}
		}
	}
	return nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func (r *results) markdown() string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }
	win := r.Window.String()
	p("# Benchmark: Python OnionBalance vs obcluster\n\n")
	p("Generated by `bench/run` (see [README.md](README.md) for what each figure means and how it is taken).\n\n")
	p("- Run: %s UTC, %s in total\n", r.Date.Format("2006-01-02 15:04"), r.Elapsed.Round(time.Second))
	p("- Machine: %d CPUs (`nproc`), %s RAM, load average before the run %s; shared with other work\n", r.CPUs, r.RAM, r.Load)
	p("- Network: deploy/testnet, 3 authorities + 5 relays (8 HSDirs), 20 s voting interval (8-minute time periods), %s\n", r.Tor)
	p("- Python OnionBalance %s (Debian) with `--is-testnet`; ours built with %s, same fetch (20 s) and refresh (20 s) timings, backend health probes on at their defaults (every 30 s; down after 3 failures over at least 60 s)\n", r.PythonOB, r.Go)
	p("- Reproduce: `%s`\n\n", r.Command)

	p("| Measure | Python OnionBalance | obcluster (ours) | ours / Python |\n|---|---|---|---|\n")
	p("| Start → master answers through the client (s), median of %d | %s | %s | %s |\n", r.Repeats,
		cell(r.Python.Reach, "2m"), cell(r.Ours.Reach, "2m"), ratio(r.Ours.Reach, r.Python.Reach))
	pf, of := restartTimes(r.Python.Restarts, false), restartTimes(r.Ours.Restarts, false)
	pa, oa := restartTimes(r.Python.Restarts, true), restartTimes(r.Ours.Restarts, true)
	p("| Backend restarted: its new intro points → on the first HSDir (s), median of %d | %s | %s | %s |\n", len(pf),
		cell(pf, "4m"), cell(of, "4m"), ratio(of, pf))
	p("| Backend restarted: its new intro points → on every HSDir serving the master (s), median of %d | %s | %s | %s |\n", len(pa),
		cell(pa, "4m"), cell(oa, "4m"), ratio(oa, pa))
	kb := r.KillBound.String()
	p("| Backend killed (kill -9) → its intro points gone from the master on the HSDirs (s), 1 run | %s | %s | %s |\n",
		cell(r.kill(kindPython), kb), cell(r.kill(kindOurs), kb), ratio(r.kill(kindOurs), r.kill(kindPython)))
	if r.Python.UsageOK && r.Ours.UsageOK {
		p("| RSS %s after start (MiB) | %.1f | %.1f | %s |\n", win, mib(r.Python.Usage.RSSKiB), mib(r.Ours.Usage.RSSKiB),
			ratioF(float64(r.Ours.Usage.RSSKiB), float64(r.Python.Usage.RSSKiB)))
		p("| Peak RSS in the first %s (MiB) | %.1f | %.1f | %s |\n", win, mib(r.Python.Usage.PeakKiB), mib(r.Ours.Usage.PeakKiB),
			ratioF(float64(r.Ours.Usage.PeakKiB), float64(r.Python.Usage.PeakKiB)))
		p("| CPU seconds in the first %s | %.2f | %.2f | %s |\n", win, r.Python.Usage.CPUSeconds, r.Ours.Usage.CPUSeconds,
			ratioF(r.Ours.Usage.CPUSeconds, r.Python.Usage.CPUSeconds))
	} else {
		p("| RSS / CPU over %s | %s | %s | — |\n", win, usageNote(r.Python), usageNote(r.Ours))
	}
	p("| Requests on fresh circuits: answers per backend | %s | %s | — |\n", spreadCell(r.Python.Spread), spreadCell(r.Ours.Spread))
	p("| Runs that stopped on SIGTERM within 10 s | %s | %s | — |\n", stopCell(r.Python.StopClean), stopCell(r.Ours.StopClean))
	m := r.Micro
	p("| Build + sign + encrypt a 20-intro descriptor (ms) | %s | %s | %s |\n", ms(m.PythonEncode), ms(m.OursEncode), ratioF(m.OursEncode, m.PythonEncode))
	p("| Decode a 20-intro descriptor (ms) | %s | %s | %s |\n\n", ms(m.PythonDecode), ms(m.OursDecode), ratioF(m.OursDecode, m.PythonDecode))

	f := r.Failover
	p("## Ours, 3-node cluster: kill -9 of the leader\n\n")
	switch {
	case !f.Ran:
		p("Not run: %s\n\n", f.Note)
	default:
		p("| Measure | obcluster, 3 nodes on one etcd (session TTL 10 s) |\n|---|---|\n")
		p("| Nodes started → first upload by the leader (s) | %s |\n", secs(f.FirstUpload))
		p("| Leader killed → another node leads (s) | %s |\n", okCell(f.Takeover, f.TakeoverOK, "90s"))
		p("| Leader killed → the new leader's first upload (s) | %s |\n", okCell(f.Upload, f.UploadOK, "90s"))
		p("| Master answers through the client afterwards | %v |\n\n", yesNo(f.Reachable))
		if f.Note != "" {
			p("Note: %s\n\n", f.Note)
		}
	}

	p("%s", r.idleMarkdown(false))
	p("## Details\n\n")
	for _, s := range []struct {
		name string
		sr   sideResult
	}{{"Python OnionBalance", r.Python}, {"obcluster", r.Ours}} {
		p("- %s restarts:", s.name)
		for _, rr := range s.sr.Restarts {
			p(" %s own descriptor %ss after start, first HSDir +%s, all %d serving HSDirs +%s;", rr.Backend, secs(rr.OwnAfter),
				okCell(rr.First, rr.FirstOK, "4m"), rr.Serving, okCell(rr.All, rr.AllOK, "4m"))
		}
		p("\n")
		for _, n := range s.sr.Notes {
			p("- %s: %s\n", s.name, n)
		}
	}
	for _, kr := range r.Kill {
		if kr.Note != "" {
			p("- kill phase, %s: %s\n", kr.Kind, kr.Note)
		}
	}
	if m.Note != "" {
		p("- microbenchmarks: %s\n", m.Note)
	}
	return w.String()
}

func usageNote(s sideResult) string {
	if s.UsageOK {
		return fmt.Sprintf("%.1f MiB, %.2f CPU s", mib(s.Usage.RSSKiB), s.Usage.CPUSeconds)
	}
	return "not measured (the process ended first)"
}

func ms(ns float64) string {
	if ns == 0 {
		return "not measured"
	}
	return strconv.FormatFloat(ns/1e6, 'f', 2, 64)
}

func okCell(d time.Duration, ok bool, bound string) string {
	if !ok {
		return "not within " + bound
	}
	return secs(d)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
