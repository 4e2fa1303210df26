package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// registry records every process obbench starts in a pid file ("PID STARTTIME NAME" lines), so that
// bench/run can end exactly those processes if obbench itself dies, and stops them all at the end.
type registry struct {
	path string
	mu   sync.Mutex
	live map[int]*proc
}

func newRegistry(path string) (*registry, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return &registry{path: path, live: map[int]*proc{}}, nil
}

// proc is one started process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error // Wait's result, valid after done
	killed  bool  // stop had to send SIGKILL
}

// start runs argv with stdout and stderr appended to logPath. The child gets its own process group
// (a terminal's Ctrl-C goes to obbench, which stops it) and SIGKILL if obbench's thread dies.
func (r *registry) start(name string, argv, env []string, logPath string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, argv[0], err)
	}
	p := &proc{name: name, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[cmd.Process.Pid] = p
	st, _ := startTime(cmd.Process.Pid)
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		fmt.Fprintf(f, "%d %d %s\n", cmd.Process.Pid, st, name)
		err = f.Close()
	}
	if err != nil {
		return p, fmt.Errorf("%s: pid file: %w", name, err)
	}
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after grace. It reports whether SIGKILL was needed.
func (r *registry) stop(p *proc, grace time.Duration) bool {
	defer func() {
		r.mu.Lock()
		delete(r.live, p.pid())
		r.mu.Unlock()
	}()
	if !p.alive() {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.killed = true
	return true
}

// kill9 sends SIGKILL at once (the failover drill).
func (r *registry) kill9(p *proc) {
	_ = p.cmd.Process.Kill()
	<-p.done
	r.mu.Lock()
	delete(r.live, p.pid())
	r.mu.Unlock()
}

// stopAll stops every process still running, concurrently.
func (r *registry) stopAll(grace time.Duration) {
	r.mu.Lock()
	ps := make([]*proc, 0, len(r.live))
	for _, p := range r.live {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop(p, grace) }()
	}
	wg.Wait()
}

// startTime returns field 22 of /proc/PID/stat (start time in clock ticks since boot), which tells a
// recorded process from a later one that reuses its pid.
func startTime(pid int) (uint64, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64) // fields after "(comm)" start at field 3
}

// procStatFields returns the fields of /proc/PID/stat after the "(comm)" field, so index 0 is field 3.
func procStatFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, errors.New("short /proc stat")
	}
	return f, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// usage is a process's CPU time and memory from /proc.
type usage struct {
	CPUSeconds float64
	RSSKiB     int64 // VmRSS
	PeakKiB    int64 // VmHWM
}

func readUsage(pid int) (usage, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return usage{}, err
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // field 14 utime
	st, err2 := strconv.ParseUint(f[12], 10, 64) // field 15 stime
	if err := errors.Join(err1, err2); err != nil {
		return usage{}, err
	}
	u := usage{CPUSeconds: float64(ut+st) / clockTicks}
	sf, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	defer sf.Close()
	sc := bufio.NewScanner(sf)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			u.RSSKiB = n
		case "VmHWM":
			u.PeakKiB = n
		}
	}
	return u, sc.Err()
}
