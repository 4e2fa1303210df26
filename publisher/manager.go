package publisher

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

// ServiceConfig is one public onion service.
type ServiceConfig struct {
	Key      *hsv3.IdentityKey
	Backends []BackendConfig
	// IntroPointsPerBackend is the fair share of intro points per live backend; zero means
	// DefaultIntroPointsPerBackend.
	IntroPointsPerBackend int
	// AuthorizedClients turns on restricted discovery (client authorization): the descriptors are
	// readable only with one of these clients' keys. Empty: readable by anyone who knows the address.
	AuthorizedClients []hsv3.AuthorizedClient
	// Health are the service's backend-health rules (the publisher only carries them, for the
	// daemon's prober and judge: see obhost/health.go).
	Health health.Rules
}

// DefaultIntroPointsPerBackend is the share of intro points per live backend when a service sets none.
const DefaultIntroPointsPerBackend = 2

// BackendConfig is one backend of a service.
type BackendConfig struct {
	Address string // with or without ".onion"
	Name    string
	// ClientKey decrypts the descriptor of a backend with restricted discovery (its .auth_private
	// key); nil for a backend anyone can read.
	ClientKey *ecdh.PrivateKey
}

// Config configures a Manager. Start from DefaultConfig.
type Config struct {
	Services []ServiceConfig
	// FetchInterval is how often every backend descriptor is fetched.
	FetchInterval time.Duration
	// CheckInterval is how often the publish decision runs (it is cheap; uploads happen only when needed).
	CheckInterval time.Duration
	// Debounce delays a publish after a change so that changes arriving together make one upload.
	Debounce time.Duration
	Timing   Timing
	Liveness Liveness
	// MaxBackends caps the backends per service; more are ignored with a warning.
	MaxBackends int
	// FetchServers caps how many HSDirs of a backend's fetch set each fetch asks (rotating from one
	// fetch to the next); zero asks all of them.
	FetchServers int
	// UploadTimeout marks an upload failed when tor reports nothing for this long.
	UploadTimeout time.Duration
	// RevisionProbeTimeout bounds how long the first upload for a blinded key with no publish record
	// waits for the responsible HSDirs to say which revision counter they hold (see probe.go).
	RevisionProbeTimeout time.Duration
	// HealthWait is how long a new leader waits, before its first upload, for the daemon to hand in
	// the backends' health of its leadership (SetHealth with its epoch), so that it does not re-add a
	// backend found dead. Zero: no wait (health off).
	HealthWait time.Duration
	// Concurrency bounds how many services are built, uploaded and recorded at once, how many
	// backend fetches are sent and descriptors decoded at once, and how many etcd writes are in flight
	// at once; at least 1 (one at a time, in order). DefaultConcurrency.
	Concurrency int
	// Procs, when set, lends the process more Ps while work is spread over goroutines (Busy until
	// release); an idle daemon runs on fewer (see internal/procs). Nil: the process keeps its own.
	Procs interface{ Busy() (release func()) }
	// Node names this obhost in records.
	Node   string
	Logger hclog.Logger
	// Clock and Rand are injectable for tests. Rand must be safe for concurrent use (Concurrency > 1
	// builds descriptors on several goroutines); crypto/rand.Reader is.
	Clock clock.Clock
	Rand  io.Reader
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{
		FetchInterval: 2 * time.Minute,
		CheckInterval: 5 * time.Second,
		Debounce:      2 * time.Second,
		Timing:        Timing{Refresh: time.Hour, RetryMin: 15 * time.Second, RetryMax: 10 * time.Minute},
		Liveness: Liveness{
			Timeout:        time.Hour,
			MaxRevisionAge: 135 * time.Minute, // torReuploadMax + 15m: see docs/balancing.md
			CertMargin:     time.Hour,
		},
		MaxBackends:   60,
		UploadTimeout: 2 * time.Minute,
		Concurrency:   DefaultConcurrency,
		Logger:        hclog.NewNullLogger(),
		Clock:         clock.Real{},
		Rand:          rand.Reader,

		RevisionProbeTimeout: 10 * time.Second,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Services) == 0 {
		errs = append(errs, errors.New("publisher: no services"))
	}
	for i, s := range c.Services {
		if s.Key == nil {
			errs = append(errs, fmt.Errorf("publisher: service %d has no key", i))
			continue
		}
		for _, b := range s.Backends {
			if _, err := CheckBackend(s.Key.PublicKey(), b.Address); err != nil {
				errs = append(errs, fmt.Errorf("publisher: service %s: backend %q: %w", s.Key.Address(), b.Address, err))
			}
		}
	}
	if c.FetchInterval <= 0 || c.CheckInterval <= 0 || c.UploadTimeout <= 0 || c.Timing.Refresh <= 0 {
		errs = append(errs, errors.New("publisher: intervals must be positive"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("publisher: concurrency %d, want at least 1", c.Concurrency))
	}
	if c.Clock == nil || c.Rand == nil || c.Logger == nil {
		errs = append(errs, errors.New("publisher: Clock, Rand and Logger are required"))
	}
	return errors.Join(errs...)
}

// Manager runs the balancing of every configured service. All its state is owned by the Run goroutine,
// which hands each service to one worker at a time (publishAll); Status may be called from any goroutine.
type Manager struct {
	cfg     Config
	log     hclog.Logger
	tor     Tor
	records Records
	lead    Leadership

	services  []*service
	byBackend map[string][]*service

	cons          *hashring.Consensus
	rings         map[hashring.TimePeriod]*hashring.Ring
	consensusDue  time.Time
	consensusWait time.Duration

	leading   bool
	epoch     int64
	fetchDue  time.Time
	checkDue  time.Time
	fetchTurn int
	// fetchQueue are the backends of this fetch round not asked for yet, fetching those waiting for
	// tor's answers (fetchMore).
	fetchQueue []string
	fetching   map[string]fetchInFlight

	pending map[string][]pendingUpload // by master address + "|" + HSDir fingerprint
	reconf  chan reconfig

	healthCh chan healthUpdate
	// healthEpoch is the leadership whose health was handed in last (SetHealth); leadingSince is when
	// this leadership started.
	healthEpoch  int64
	leadingSince time.Time

	// prunedEpoch is the leadership that last deleted the records of services and backends no longer
	// configured (0: due again, after a reconfiguration).
	prunedEpoch int64

	counters Counters

	// shared guards counters, pending and checkDue while publishAll's workers run.
	shared sync.Mutex
	// batch is the batch of tor events being handled (handleEvents), nil outside one.
	batch *eventBatch

	status atomic.Pointer[Status]
}

// New makes a Manager. It does no I/O.
func New(cfg Config, tor Tor, records Records, lead Leadership) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:       cfg,
		log:       cfg.Logger,
		tor:       tor,
		records:   records,
		lead:      lead,
		byBackend: map[string][]*service{},
		rings:     map[hashring.TimePeriod]*hashring.Ring{},
		pending:   map[string][]pendingUpload{},
		reconf:    make(chan reconfig),
		healthCh:  make(chan healthUpdate),
		counters:  Counters{Publishes: map[string]uint64{}, UploadFailures: map[string]uint64{}, FetchFailures: map[string]uint64{}},
	}
	for _, sc := range cfg.Services {
		svc, err := newService(sc, cfg)
		if err != nil {
			return nil, err
		}
		m.services = append(m.services, svc)
		for _, b := range svc.backends {
			m.byBackend[b.Address] = append(m.byBackend[b.Address], svc)
		}
	}
	m.publishStatus()
	return m, nil
}

// Run drives the manager until ctx ends. events is the tor event feed (torctl.Client.Events()).
func (m *Manager) Run(ctx context.Context, events <-chan torctl.Event) error {
	tick := m.cfg.Clock.NewTicker(time.Second)
	defer tick.Stop()
	m.step(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			m.handleEvents(ctx, takeEvents(ev, events))
		case rc := <-m.reconf:
			m.applyReconfig(rc)
		case hu := <-m.healthCh:
			m.applyHealth(hu.h)
			close(hu.done)
		case <-tick.C():
		}
		m.step(ctx)
	}
}

// step runs whatever is due: leadership changes, consensus reload, fetches, publish checks, timeouts.
func (m *Manager) step(ctx context.Context) {
	now := m.cfg.Clock.Now()
	m.checkLeadership(ctx, now)
	if m.cons == nil || (!m.consensusDue.IsZero() && !now.Before(m.consensusDue)) {
		m.loadConsensus(ctx, now)
	}
	if m.leading && m.cons != nil {
		if !now.Before(m.fetchDue) {
			m.fetchAll(ctx, now)
			m.fetchDue = now.Add(m.cfg.FetchInterval)
		} else if len(m.fetchQueue) > 0 {
			m.fetchMore(ctx, now)
		}
		m.expireUploads(ctx, now)
		switch {
		case now.Before(m.checkDue):
		case !m.healthKnown():
			// Decide when the judgement arrives (applyHealth) or the wait for it ends, not at the
			// next event: a check left overdue would ignore the debounce of what arrives meanwhile.
			m.checkDue = m.leadingSince.Add(m.cfg.HealthWait)
		default:
			m.checkDue = now.Add(m.cfg.CheckInterval) // publishAll may bring it forward
			m.publishAll(ctx, now)
		}
	}
	m.publishStatus()
}

func (m *Manager) checkLeadership(ctx context.Context, now time.Time) {
	epoch, ok := m.lead.IsLeader()
	switch {
	case ok && (!m.leading || epoch != m.epoch):
		m.log.Info("leading: loading shared state and publishing when needed", "epoch", epoch)
		m.leading, m.epoch, m.leadingSince = true, epoch, now
		m.counters.LeaderTransitions++
		m.pending = map[string][]pendingUpload{}
		if err := m.loadState(ctx, now); err != nil {
			m.log.Error("loading shared state failed; will retry", "error", err)
			m.leading = false
			return
		}
		m.fetchDue, m.checkDue = now, now
	case !ok && m.leading:
		m.log.Warn("no longer leading: stopped fetching and publishing", "epoch", m.epoch)
		m.leading = false
		m.counters.LeaderTransitions++
		m.pending = map[string][]pendingUpload{}
	}
}

// loadState reads the backends' intro sets and the publish records written by earlier leaders. An
// instance record counts only for a backend the configuration lists for that service, and only with
// what its descriptor, verified again here, says (see verifyRecord): whoever can write to etcd cannot
// make this leader publish an intro point that a configured backend did not sign.
func (m *Manager) loadState(ctx context.Context, now time.Time) error {
	for _, svc := range m.services {
		recs, err := m.records.Instances(ctx, svc.addr)
		if err != nil && !errors.Is(err, record.ErrBad) {
			return fmt.Errorf("reading instances of %s: %w", svc.addr, err)
		}
		if err != nil {
			m.log.Warn("ignoring instance records that do not decode", "service", svc.addr, "error", err)
		}
		for _, r := range recs {
			b := svc.backend(r.Address)
			if b == nil {
				m.log.Debug("ignoring the record of a backend not configured for the service", "service", svc.addr,
					"backend", r.Address, "key", r.Key)
				continue
			}
			v, err := verifyRecord(b, r, now)
			if err != nil {
				m.log.Warn("ignoring an instance record that does not verify", "key", r.Key, "service", svc.addr,
					"backend", b.Address, "error", err)
				continue
			}
			if !sameIntroPoints(v.IntroPoints, r.IntroPoints) {
				m.log.Warn("instance record's intro points differ from its verified descriptor; using the descriptor's",
					"key", r.Key, "service", svc.addr, "backend", b.Address)
			}
			if v.ReceivedAt.After(b.Record.ReceivedAt) {
				b.loadRecord(v)
			}
		}
		pubs, err := m.records.PublishedAll(ctx, svc.addr)
		if err != nil && !errors.Is(err, record.ErrBad) {
			return fmt.Errorf("reading publish records of %s: %w", svc.addr, err)
		}
		if err != nil {
			m.log.Warn("ignoring publish records that do not decode", "service", svc.addr, "error", err)
		}
		svc.loadPublished(pubs)
	}
	return nil
}

func (m *Manager) loadConsensus(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // bounded: the Run loop must never hang on tor
	defer cancel()
	retry := func(err error) {
		m.consensusWait = min(max(2*m.consensusWait, time.Second), 30*time.Second)
		m.consensusDue = now.Add(m.consensusWait)
		m.log.Warn("no usable consensus from tor yet; retrying", "error", err, "retry_in", m.consensusWait)
	}
	text, err := m.tor.Consensus(ctx)
	if err != nil {
		retry(err)
		return
	}
	cons, err := hashring.ParseConsensus(text)
	if err != nil {
		retry(fmt.Errorf("parsing the consensus: %w", err))
		return
	}
	if !cons.ReasonablyLive(now) {
		retry(fmt.Errorf("the consensus (valid-after %s) is not live", cons.ValidAfter.Format(time.RFC3339)))
		return
	}
	mds, err := m.tor.Microdescs(ctx)
	if err != nil {
		retry(err)
		return
	}
	parsed, err := hashring.ParseMicrodescs(mds)
	if err != nil {
		retry(fmt.Errorf("parsing the microdescriptors: %w", err))
		return
	}
	matched := cons.AttachMicrodescs(parsed)
	if m.cons != nil && m.cons.ClientTimePeriod().Period != cons.ClientTimePeriod().Period {
		// Clients now fetch the next period's descriptors, whose intro points differ: fetch the
		// backends' new ones at once rather than at the next fetch interval.
		m.fetchDue = now
	}
	m.cons, m.consensusWait, m.consensusDue = cons, 0, time.Time{}
	m.rings = map[hashring.TimePeriod]*hashring.Ring{}
	periods := cons.TimePeriods()
	m.log.Info("consensus loaded", "valid_after", cons.ValidAfter.UTC().Format(time.RFC3339),
		"relays", len(cons.Relays), "microdescs", matched, "hsdirs", m.ring(periods[0]).Len(),
		"period", periods[0].Period, "period_length_min", periods[0].PeriodLength)
	m.checkDue = now // HSDir sets may have changed
}

func (m *Manager) ring(s hashring.TimePeriod) *hashring.Ring {
	r, ok := m.rings[s]
	if !ok {
		r = hashring.NewRing(m.cons, s)
		m.rings[s] = r
	}
	return r
}

// handleEvent reacts to one tor event.
func (m *Manager) handleEvent(ctx context.Context, ev torctl.Event) {
	now := m.cfg.Clock.Now()
	switch e := ev.(type) {
	case torctl.ConsensusArrived:
		if m.consensusDue.IsZero() || m.consensusDue.After(now.Add(time.Second)) {
			m.consensusDue = now.Add(time.Second) // coalesce STATUS_CLIENT and NEWCONSENSUS
		}
	case torctl.Reconnected:
		if !e.Initial {
			m.counters.TorReconnects++
			m.log.Info("tor control connection is back: reloading the consensus and fetching again")
		}
		m.consensusDue, m.fetchDue, m.checkDue = now, now, now
		m.failPending(ctx, reasonReconnected, now) // tor's answers to them are lost
	case torctl.Disconnected:
		m.log.Warn("tor control connection lost; reconnecting", "error", e.Err)
	case torctl.DescReceived:
		m.fetchAnswered(e.Address)
		if m.leading {
			m.descReceived(ctx, e, now)
			m.probeEvent(e, now)
		}
	case torctl.DescFailed:
		m.fetchAnswered(e.Address)
		m.probeEvent(e, now)
		if len(m.byBackend[e.Address]) > 0 {
			m.counters.FetchFailures[e.Reason]++
		}
		for _, svc := range m.byBackend[e.Address] {
			if b := svc.backend(e.Address); b != nil {
				b.LastFetchError = e.Reason + " from " + e.HSDir
			}
		}
		if len(m.byBackend[e.Address]) > 0 {
			m.log.Debug("backend descriptor fetch failed", "backend", e.Address, "hsdir", e.HSDir, "reason", e.Reason)
		}
	case torctl.Uploaded:
		m.uploadResult(ctx, e.Address, e.HSDir, "", "", now)
	case torctl.UploadFailed:
		m.uploadResult(ctx, e.Address, e.HSDir, e.Blinded, e.Reason, now)
	}
}

// Status returns a snapshot for the status socket and the status command.
func (m *Manager) Status() *Status { return m.status.Load() }
