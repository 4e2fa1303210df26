package obhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/store/record"
)

// statusCollector turns publisher status snapshots into Prometheus metrics at scrape time, so the
// publisher itself needs no metrics library.
type statusCollector struct {
	status func() *publisher.Status
	now    func() time.Time

	leader, epoch, transitions, reconnects   *prometheus.Desc
	publishes, uploadFailures, fetchFailures *prometheus.Desc
	backendAge, backendLive, introPublished  *prometheus.Desc
	revision, backendHSDirs                  *prometheus.Desc
	backendsDown                             *prometheus.Desc
}

func newStatusCollector(status func() *publisher.Status, now func() time.Time) *statusCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("onionbalance_"+name, help, labels, nil)
	}
	return &statusCollector{
		status:         status,
		now:            now,
		leader:         d("leader", "1 while this node is the leader, else 0."),
		epoch:          d("leader_epoch", "Epoch (election key create revision) of this node's leadership, 0 when following."),
		transitions:    d("leader_transitions_total", "Times this node became or stopped being the leader."),
		reconnects:     d("tor_control_reconnects_total", "Reconnections to the tor control port after a loss."),
		publishes:      d("publishes_total", "Descriptor publications by result.", "result"),
		uploadFailures: d("hsdir_upload_failures_total", "Descriptor uploads an HSDir did not accept.", "hsdir"),
		fetchFailures:  d("backend_fetch_failures_total", "Failed backend descriptor fetches by reason.", "reason"),
		backendAge:     d("backend_descriptor_age_seconds", "Seconds since the backend's descriptor was last received.", "service", "backend"),
		backendLive:    d("backend_live", "1 when the backend is in the next descriptor.", "service", "backend"),
		introPublished: d("intro_points_published", "Intro points in the last published descriptor(s).", "service", "descriptor"),
		revision:       d("revision_counter", "Revision counter of the last published descriptor.", "service", "descriptor"),
		backendHSDirs: d("backend_hsdirs", "HSDirs that accepted a descriptor including the backend (0: clients cannot reach it).",
			"service", "backend", "descriptor"),
		backendsDown: d("backends_down", "Backends the leader's health judgement finds down (only on the leader).", "service"),
	}
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.epoch, c.transitions, c.reconnects, c.publishes,
		c.uploadFailures, c.fetchFailures, c.backendAge, c.backendLive, c.introPublished, c.revision, c.backendHSDirs,
		c.backendsDown} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	if st == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cnt := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	leader := 0.0
	if st.Leading {
		leader = 1
	}
	g(c.leader, leader)
	g(c.epoch, float64(st.Epoch))
	cnt(c.transitions, st.Counters.LeaderTransitions)
	cnt(c.reconnects, st.Counters.TorReconnects)
	for _, r := range []string{"uploaded", "error"} { // always present, so rate() works from zero
		cnt(c.publishes, st.Counters.Publishes[r], r)
	}
	for h, n := range st.Counters.UploadFailures {
		cnt(c.uploadFailures, n, h)
	}
	for r, n := range st.Counters.FetchFailures {
		cnt(c.fetchFailures, n, r)
	}
	now := c.now()
	for _, s := range st.Services {
		if st.Leading {
			down := 0
			for _, b := range s.Backends {
				if b.Health == record.HealthDown {
					down++
				}
			}
			g(c.backendsDown, float64(down), s.Address)
		}
		for _, b := range s.Backends {
			if !b.ReceivedAt.IsZero() {
				g(c.backendAge, now.Sub(b.ReceivedAt).Seconds(), s.Address, b.Address)
			}
			live := 0.0
			if b.Live {
				live = 1
			}
			g(c.backendLive, live, s.Address, b.Address)
		}
		for _, d := range s.Descriptors {
			if d.Current == "" {
				continue
			}
			g(c.introPublished, float64(len(d.IntroPoints)), s.Address, d.Current)
			g(c.revision, float64(d.Revision), s.Address, d.Current)
			in, known := map[string]int{}, false
			for _, u := range d.HSDirs {
				known = known || len(u.Backends) > 0
				if u.Status != "uploaded" {
					continue // the HSDir does not have this descriptor (yet)
				}
				for _, b := range u.Backends {
					in[b+".onion"]++
				}
			}
			if !known {
				continue // a record written before per-HSDir backends were kept
			}
			for _, b := range s.Backends {
				g(c.backendHSDirs, float64(in[b.Address]), s.Address, b.Address, d.Current)
			}
		}
	}
}

// healthMetrics count this node's health probes.
type healthMetrics struct {
	probes  *prometheus.CounterVec
	latency prometheus.Histogram
}

func newHealthMetrics() *healthMetrics {
	m := &healthMetrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onionbalance_probes_total",
			Help: "Health probes this node made, by outcome (connected, answered, intro-failed, timeout, ...).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "onionbalance_probe_latency_seconds",
			Help:    "Time from the start of a health probe to tor's answer (or the failure).",
			Buckets: []float64{.25, .5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120},
		}),
	}
	for _, o := range []health.Outcome{health.Connected, health.Answered, health.IntroFailed, health.Timeout} {
		m.probes.WithLabelValues(string(o)) // present from zero, so that rate() works
	}
	return m
}

// register adds the health metrics to reg.
func (m *healthMetrics) register(reg *prometheus.Registry) error {
	if err := reg.Register(m.probes); err != nil {
		return err
	}
	return reg.Register(m.latency)
}

// observeProbe counts one probe. A nil m counts nothing.
func (m *healthMetrics) observeProbe(o health.Outcome, latency time.Duration) {
	if m == nil {
		return
	}
	m.probes.WithLabelValues(string(o)).Inc()
	m.latency.Observe(latency.Seconds())
}

// etcdLatency times the publisher's etcd requests.
func newEtcdLatency() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "onionbalance_etcd_request_duration_seconds",
		Help:    "Latency of etcd requests made by the publisher, by operation.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"op"})
}

// serveMetrics serves /metrics from a private registry on addr.
func serveMetrics(ctx context.Context, d *Daemon, addr string, reg *prometheus.Registry, log hclog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	go func() { // d.stop waits for the server goroutine before it runs the closers
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving metrics", "address", "http://"+ln.Addr().String()+"/metrics")
	if !isLoopback(ln.Addr()) {
		log.Warn(fmt.Sprintf("metrics.listen %s is not loopback: /metrics is reachable from the network", addr),
			"bound", ln.Addr().String())
	}
	return nil
}

// isLoopback reports whether a listener's address accepts only local connections. The bound address
// is checked, not the configured one, so that a host name is judged by what it resolved to and ":9180"
// (every interface) is not loopback.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
