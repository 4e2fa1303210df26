package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/obcluster/obcluster/internal/clock"
)

// failoverResult is the 3-node drill: kill -9 of the leader.
type failoverResult struct {
	Ran  bool   `json:"ran"`
	Note string `json:"note,omitempty"`
	// FirstUpload is from the nodes' start to the first "uploaded descriptor" line.
	FirstUpload time.Duration `json:"first_upload"`
	// Takeover is from the kill to another node's "became leader"; Upload to its first upload.
	Takeover   time.Duration `json:"takeover"`
	TakeoverOK bool          `json:"takeover_ok"`
	Upload     time.Duration `json:"upload"`
	UploadOK   bool          `json:"upload_ok"`
	// Reachable says the master answered through the client after the failover.
	Reachable bool `json:"reachable"`
}

// cluster runs three of our nodes on one external etcd, sharing the ours management tor, kills the
// leader with SIGKILL and times the takeover.
func (b *bench) cluster(ctx context.Context, m master) failoverResult {
	var res failoverResult
	dir := filepath.Join(b.work, "cluster")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Note = err.Error()
		return res
	}
	cport, err1 := freePort()
	pport, err2 := freePort()
	if err1 != nil || err2 != nil {
		res.Note = fmt.Sprint("no free port: ", err1, err2)
		return res
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	etcd, err := b.reg.start("etcd", []string{b.etcdPath, "--name", "bench", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "bench=" + peer, "--log-level", "warn"}, nil,
		filepath.Join(dir, "etcd.log"))
	if err != nil {
		res.Note = err.Error()
		return res
	}
	defer b.reg.stop(etcd, 10*time.Second)
	if err := waitHealthy(ctx, client+"/health", 30*time.Second); err != nil {
		res.Note = "etcd did not start: " + err.Error()
		return res
	}

	nodes := map[string]*balancer{}
	defer func() {
		for _, bl := range nodes {
			b.stopBalancer(bl)
		}
	}()
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("node%d", i)
		section := fmt.Sprintf("cluster:\n  node-name: %s\n  etcd:\n    endpoints: [%s]\n", name, client)
		bl, err := b.startBalancer(kindOurs, "cluster-"+name, m, []string{"backend1", "backend2", "backend3"}, b.mgmt["mgmt-ours"].control, section)
		if err != nil {
			res.Note = err.Error()
			return res
		}
		nodes[name] = bl
	}
	started := time.Now()
	res.Ran = true

	// Wait for the first upload and find the leader.
	var leader string
	for time.Since(started) < 2*time.Minute && ctx.Err() == nil && leader == "" {
		clock.Sleep(ctx, clock.Real{}, time.Second)
		for name, bl := range nodes {
			if t, ok := firstLogLine(bl.log, "uploaded descriptor", started); ok {
				if _, led := firstLogLine(bl.log, "became leader", started); led {
					leader, res.FirstUpload = name, t.Sub(started)
				}
			}
		}
	}
	if leader == "" {
		res.Note = "no node uploaded a descriptor within 2 min"
		return res
	}
	clock.Sleep(ctx, clock.Real{}, 5*time.Second) // let the followers settle

	killed := time.Now()
	b.reg.kill9(nodes[leader].proc)
	delete(nodes, leader)
	b.log.Info("cluster: leader killed", "node", leader)
	for time.Since(killed) < 90*time.Second && ctx.Err() == nil && !res.UploadOK {
		clock.Sleep(ctx, clock.Real{}, 500*time.Millisecond)
		for _, bl := range nodes {
			if t, ok := firstLogLine(bl.log, "became leader", killed); ok && (!res.TakeoverOK || t.Sub(killed) < res.Takeover) {
				res.Takeover, res.TakeoverOK = t.Sub(killed), true
			}
			if t, ok := firstLogLine(bl.log, "uploaded descriptor", killed); ok {
				res.Upload, res.UploadOK = t.Sub(killed), true
			}
		}
	}
	if !res.TakeoverOK {
		res.Note = "no node took over within 90 s"
	} else if !res.UploadOK {
		res.Note = "the new leader uploaded nothing within 90 s"
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, res.Reachable = b.reach(rctx, &balancer{master: m, started: time.Now()}, 60*time.Second)
	cancel()
	return res
}

// firstLogLine finds the first line containing text whose hclog timestamp is not before since.
func firstLogLine(path, text string, since time.Time) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, text) {
			continue
		}
		ts, _, _ := strings.Cut(line, " ")
		t, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
		if err == nil && !t.Before(since.Truncate(time.Millisecond)) {
			return t, true
		}
	}
	return time.Time{}, false
}

func waitHealthy(ctx context.Context, url string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		clock.Sleep(ctx, clock.Real{}, 300*time.Millisecond)
	}
	return fmt.Errorf("%s: %v", url, last)
}
