package publisher

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// revisionProbe asks the responsible HSDirs of one blinded key which revision counter they hold for the
// master address. HSDirs refuse a descriptor whose counter is not above the one they hold, and without a
// publish record in etcd (first start after the Python tool, or a wiped data dir) the time-based counter
// is below it about half the time. The probe runs once, before the first upload under a blinded key that
// etcd has no record of; its answer is a floor for the revision counter (see NextRevision).
type revisionProbe struct {
	blinded  ed25519.PublicKey
	b64      string // tor's unpadded base64 of blinded, as events name it
	deadline time.Time
	// waiting are the HSDirs that neither served a descriptor nor reported a failure yet.
	waiting map[string]bool
	// held is the highest verified revision counter an HSDir served; 0 when none did.
	held     uint64
	finished bool
}

// awaitProbe starts the probe of a descriptor when it needs one and reports whether its upload must
// wait for the answers. Only the time period tor clients fetch from now can be probed: HSFETCH takes an address, and
// tor blinds it for its current time period. The wait is bounded: a NOT_FOUND is an answer, and past
// RevisionProbeTimeout the upload goes out with the counter it would have had without the probe.
func (m *Manager) awaitProbe(ctx context.Context, svc *service, st *descState, tp hashring.TimePeriod, blinded ed25519.PublicKey,
	now time.Time) bool {
	if st.probe == nil {
		client := m.cons.ClientTimePeriod()
		if st.record.RevisionCounter != 0 || st.published.Revision != 0 ||
			tp.Period != client.Period || tp.PeriodLength != client.PeriodLength {
			return false
		}
		st.probe = m.startProbe(ctx, svc, tp, blinded, now)
	}
	p := st.probe
	if p.finished {
		return false
	}
	if len(p.waiting) > 0 && now.Before(p.deadline) {
		m.shared.Lock() // publishAll's workers call this
		m.checkDue = minTime(m.checkDue, p.deadline)
		m.shared.Unlock()
		return true
	}
	p.finished = true
	switch {
	case len(p.waiting) > 0:
		m.log.Warn("some HSDirs did not say which revision counter they hold in time; publishing anyway",
			"service", svc.addr, "period", tp.Period, "waited", m.cfg.RevisionProbeTimeout, "unanswered", len(p.waiting),
			"highest_seen", p.held)
	case p.held > 0:
		m.log.Info("the HSDirs hold a descriptor of ours: publishing above its revision counter", "service", svc.addr,
			"period", tp.Period, "held_revision", p.held)
	}
	return false
}

// startProbe fetches the master's descriptor from every responsible HSDir of blinded. When the fetch
// cannot be started, the probe is finished at once: it must never keep the service unpublished.
func (m *Manager) startProbe(ctx context.Context, svc *service, tp hashring.TimePeriod, blinded ed25519.PublicKey,
	now time.Time) *revisionProbe {
	p := &revisionProbe{blinded: blinded, b64: base64.RawStdEncoding.EncodeToString(blinded),
		deadline: now.Add(m.cfg.RevisionProbeTimeout), waiting: map[string]bool{}}
	var servers []string
	for _, h := range m.ring(tp).Responsible([32]byte(blinded)) {
		servers = append(servers, h.Fingerprint)
	}
	if len(servers) == 0 {
		return p
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := m.tor.FetchDescriptor(cctx, svc.addr, servers)
	cancel()
	if err != nil {
		m.log.Warn("cannot ask the HSDirs which revision counter they hold; publishing with the time-based one",
			"service", svc.addr, "period", tp.Period, "error", err)
		return p
	}
	for _, s := range servers {
		p.waiting[s] = true
	}
	m.log.Info("first upload for this blinded key: asking its HSDirs which revision counter they hold",
		"service", svc.addr, "period", tp.Period, "hsdirs", len(servers), "wait_at_most", m.cfg.RevisionProbeTimeout)
	return p
}

// probeAnswer applies a fetch result for a master address: a served descriptor raises the probe's
// floor when it verifies under the blinded key asked for, a failure (NOT_FOUND: nothing published
// there yet) only counts as an answer. The last answer brings the publish check forward.
func (m *Manager) probeAnswer(addr, hsdir, blinded string, desc []byte, now time.Time) {
	for _, svc := range m.services {
		if svc.addr != addr {
			continue
		}
		for _, st := range svc.byBlinded {
			p := st.probe
			if p == nil || (blinded != "" && trimB64(blinded) != p.b64) {
				continue
			}
			if desc != nil {
				// The signature chain up to our own blinded key is what makes the counter believable;
				// the certificate's expiry is not checked, so a skewed clock cannot hide a counter.
				d, err := hsv3.DecodeOuter(desc, p.blinded, hsv3.DecodeOptions{SkipExpiryCheck: true})
				if err != nil {
					m.log.Warn("ignoring a descriptor of the master address that does not verify", "service", addr,
						"hsdir", hsdir, "error", err)
				} else {
					p.held = max(p.held, d.RevisionCounter)
					m.log.Debug("an HSDir holds a descriptor of ours", "service", addr, "hsdir", hsdir,
						"revision", d.RevisionCounter)
				}
			}
			if !p.waiting[hsdir] {
				continue
			}
			delete(p.waiting, hsdir)
			if len(p.waiting) == 0 && !p.finished {
				m.checkDue = minTime(m.checkDue, now.Add(m.cfg.Debounce)) // like any change: one upload for what arrives together
			}
		}
	}
}

// probeEvent routes fetch results for master addresses to their probes.
func (m *Manager) probeEvent(ev torctl.Event, now time.Time) {
	switch e := ev.(type) {
	case torctl.DescReceived:
		m.probeAnswer(e.Address, e.HSDir, e.Blinded, e.Descriptor, now)
	case torctl.DescFailed:
		m.probeAnswer(e.Address, e.HSDir, e.Blinded, nil, now)
	}
}

// heldRevision is the highest revision counter the HSDirs said they hold for the blinded key; 0 when
// unknown.
func (st *descState) heldRevision() uint64 {
	if st.probe == nil {
		return 0
	}
	return st.probe.held
}
