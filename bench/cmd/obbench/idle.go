package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/obhost"
)

// idleResult is one balancer's steady state: what it costs over a window in which nothing changes
// (no backend restarts, no requests), after it settled.
type idleResult struct {
	Label      string        `json:"label"`
	Kind       kind          `json:"kind"`
	Settle     time.Duration `json:"settle"`
	Window     time.Duration `json:"window"`
	CPUSeconds float64       `json:"cpu_seconds"`      // utime + stime over the window
	Switches   int64         `json:"context_switches"` // of all its threads over the window
	EtcdWrites int64         `json:"etcd_writes"`      // etcd revisions over the window; -1: no etcd
	RSSKiB     int64         `json:"rss_kib"`          // at the end of the window
	OK         bool          `json:"ok"`
	Note       string        `json:"note,omitempty"`
}

func (r idleResult) perMinute(v float64) float64 { return v / r.Window.Minutes() }

// idleSpec is one balancer of the idle measure.
type idleSpec struct {
	label    string
	kind     kind
	m        master
	tor      string // management tor
	defaults bool   // ours at its default publish timings instead of the bench's
}

// idle runs the balancers of specs at once, each on its own master (over backend1..3) and
// management tor, lets them settle, then measures each over the same window.
func (b *bench) idle(ctx context.Context, specs []idleSpec, settle, window time.Duration) []idleResult {
	out := make([]idleResult, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		out[i] = idleResult{Label: s.label, Kind: s.kind, Settle: settle, Window: window, EtcdWrites: -1}
		opts := balancerOpts{defaultTimings: s.defaults}
		bl, err := b.startBalancerOpts(s.kind, "idle-"+strings.ReplaceAll(s.label, " ", "-"), s.m, sequentialBackends,
			b.mgmt[s.tor].control, opts)
		if err != nil {
			out[i].Note = err.Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.stopBalancer(bl)
			out[i] = b.idleOne(ctx, bl, out[i])
		}()
	}
	wg.Wait()
	return out
}

func (b *bench) idleOne(ctx context.Context, bl *balancer, r idleResult) idleResult {
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-bl.proc.done:
			return false
		case <-time.After(d):
			return true
		}
	}
	if !wait(time.Until(bl.started.Add(r.Settle))) {
		r.Note = fmt.Sprintf("ended before the window (log %s)", bl.log)
		return r
	}
	pid := bl.proc.pid()
	u0, err1 := readUsage(pid)
	s0, err2 := threadSwitches(pid)
	rev0, err3 := b.etcdRevision(ctx, bl)
	if !wait(r.Window) {
		r.Note = fmt.Sprintf("ended in the window (log %s)", bl.log)
		return r
	}
	u1, err4 := readUsage(pid)
	s1, err5 := threadSwitches(pid)
	rev1, err6 := b.etcdRevision(ctx, bl)
	if err := firstErr(err1, err2, err4, err5); err != nil {
		r.Note = err.Error()
		return r
	}
	r.CPUSeconds, r.Switches, r.RSSKiB, r.OK = u1.CPUSeconds-u0.CPUSeconds, s1-s0, u1.RSSKiB, true
	if bl.kind == kindOurs {
		if err := firstErr(err3, err6); err != nil {
			r.Note = "etcd writes not counted: " + err.Error()
		} else {
			r.EtcdWrites = rev1 - rev0
		}
	}
	b.log.Info("idle", "run", bl.name, "cpu_s_per_min", fmt.Sprintf("%.3f", r.perMinute(r.CPUSeconds)),
		"switches_per_min", int64(r.perMinute(float64(r.Switches))), "etcd_writes", r.EtcdWrites)
	return r
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// threadSwitches sums the context switches (voluntary and not) of every thread of pid: each is a
// wakeup, counted by the kernel whatever else runs on the machine.
func threadSwitches(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("threads of pid %d: none readable (%v)", pid, err)
	}
	var n int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, l := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n, nil
}

// etcdRevision reads the revision of our balancer's embedded etcd, through the endpoints file the
// daemon writes in its data directory.
func (b *bench) etcdRevision(ctx context.Context, bl *balancer) (int64, error) {
	if bl.kind != kindOurs {
		return 0, nil
	}
	file := filepath.Join(bl.dir, "data", obhost.EndpointsFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	eps := strings.Fields(strings.ReplaceAll(string(data), ",", " "))
	if len(eps) == 0 {
		return 0, fmt.Errorf("%s lists no endpoint", file)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("etcd at %s (%s): %w", eps[0], file, err)
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, eps[0])
	if err != nil {
		return 0, fmt.Errorf("etcd status at %s (%s): %w", eps[0], file, err)
	}
	return st.Header.Revision, nil
}

// idleHeading opens the steady-state section of RESULTS.md.
const idleHeading = "## Steady state: nothing changing"

// idleMarkdown is the steady-state section. alone says it was measured by a run of its own
// (-only-idle), whose date and machine it then states.
func (r *results) idleMarkdown(alone bool) string {
	if len(r.Idle) == 0 {
		return ""
	}
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }
	first := r.Idle[0]
	p("%s\n\n", idleHeading)
	if alone {
		p("Measured by a run of its own (`%s -only-idle`): %s UTC, %s in total, load average before the run %s, "+
			"%d CPUs shared with other work; the other tables are from the run above.\n\n",
			r.Command, r.Date.Format("2006-01-02 15:04"), r.Elapsed.Round(time.Second), r.Load, r.CPUs)
	}
	p("The balancers run at once on the same network, each on its own master (backend1..3) and management tor; "+
		"nothing is restarted or requested. Figures are over %s, from %s after start. Ours has its embedded etcd "+
		"(reached in-process) and health probes on (every 30 s), and runs on one P while idle (internal/procs); "+
		"\"ours\" has the Python tool's `--is-testnet` timings as above (fetch and refresh 20 s), \"ours at its defaults\" fetches every 2 min and refreshes every hour. Context switches "+
		"(all threads, from /proc) count wakeups whatever else runs on the machine; CPU seconds depend on the load.\n\n",
		first.Window, first.Settle)
	p("| Measure |")
	for _, ir := range r.Idle {
		p(" %s |", ir.Label)
	}
	var py *idleResult
	var ours []idleResult
	for i := range r.Idle {
		switch {
		case r.Idle[i].Kind == kindPython && py == nil:
			py = &r.Idle[i]
		case r.Idle[i].Kind == kindOurs:
			ours = append(ours, r.Idle[i])
		}
	}
	for _, o := range ours {
		p(" %s / Python |", o.Label)
	}
	p("\n|---|")
	for range len(r.Idle) + len(ours) {
		p("---|")
	}
	p("\n")
	row := func(name string, f func(idleResult) (float64, bool), format string) {
		p("| %s |", name)
		for _, ir := range r.Idle {
			if v, ok := f(ir); ok && ir.OK {
				p(" "+format+" |", v)
			} else {
				p(" — |")
			}
		}
		for _, o := range ours {
			ratio := "—"
			if py != nil && py.OK && o.OK {
				a, okA := f(o)
				b, okB := f(*py)
				if okA && okB {
					ratio = ratioF(a, b)
				}
			}
			p(" %s |", ratio)
		}
		p("\n")
	}
	row("CPU seconds per minute", func(ir idleResult) (float64, bool) { return ir.perMinute(ir.CPUSeconds), true }, "%.3f")
	row("Context switches per minute", func(ir idleResult) (float64, bool) { return ir.perMinute(float64(ir.Switches)), true }, "%.0f")
	row("etcd writes per minute", func(ir idleResult) (float64, bool) {
		return ir.perMinute(float64(ir.EtcdWrites)), ir.EtcdWrites >= 0
	}, "%.1f")
	row("RSS at the end (MiB)", func(ir idleResult) (float64, bool) { return mib(ir.RSSKiB), true }, "%.1f")
	p("\n")
	for _, ir := range r.Idle {
		if ir.Note != "" {
			p("- %s: %s\n", ir.Label, ir.Note)
		}
	}
	if w.String()[w.Len()-2:] != "\n\n" {
		p("\n")
	}
	return w.String()
}

// replaceIdleSection puts r's steady-state section into the results file at path in place of the one
// there (or before "## Details"), leaving the rest as the last full run wrote it.
func replaceIdleSection(path string, r *results) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-only-idle replaces a section of %s: %w", path, err)
	}
	return os.WriteFile(path, []byte(spliceSection(string(old), idleHeading, "## Details", r.idleMarkdown(true))), 0o644)
}

// spliceSection replaces the section that starts with heading (up to the next "## " heading) by
// section, or inserts section before the heading before when there is none.
func spliceSection(doc, heading, before, section string) string {
	if i := strings.Index(doc, heading+"\n"); i >= 0 {
		end := len(doc)
		if j := strings.Index(doc[i+len(heading):], "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		}
		return doc[:i] + section + doc[end:]
	}
	if i := strings.Index(doc, before+"\n"); i >= 0 {
		return doc[:i] + section + doc[i:]
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + section
}

// scaleHeading opens the section of RESULTS.md with the figures of deploy/e2e's
// TestOBHostTwentyServices, written by hand: obbench does not run that test, and keeps the section
// when it rewrites the file.
const scaleHeading = "## Scale: one daemon, 20 services x 5 backends"

// section returns the section of doc that starts with heading, up to the next "## " heading ("" when
// there is none).
func section(doc, heading string) string {
	i := strings.Index(doc, heading+"\n")
	if i < 0 {
		return ""
	}
	rest := doc[i+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		return doc[i : i+len(heading)+j+1]
	}
	return doc[i:]
}
