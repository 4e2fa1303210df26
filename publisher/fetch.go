package publisher

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
)

// fetchAll starts a fetch round: every backend's current descriptor is asked from HSDirs chosen on our
// own ring (HSFETCH SERVER=...), so no NEWNYM is needed and tor's per-HSDir rate limit does not apply. It
// asks every HSDir of the backend's fetch set (those a client would ask; FetchServers caps them), so the
// newest revision any of them holds is seen each round; older copies change nothing (noteRevision).
// The backends are queued service by service, in the configuration's order, and asked for by fetchMore,
// a bounded number at a time: a service's backends arrive together, so that it is published once with
// all of them rather than once per part of them.
func (m *Manager) fetchAll(ctx context.Context, now time.Time) {
	m.fetchTurn++
	m.fetchQueue = m.fetchQueue[:0]
	queued := make(map[string]bool, len(m.byBackend))
	for _, svc := range m.services {
		for _, b := range svc.backends {
			if !queued[b.Address] {
				queued[b.Address] = true
				m.fetchQueue = append(m.fetchQueue, b.Address)
			}
		}
	}
	m.fetching = map[string]fetchInFlight{}
	m.fetchMore(ctx, now)
}

// fetchMore asks for the next queued backends while fewer than maxFetchesInFlight wait for tor's
// answers: tor answers each HSDir of each HSFETCH with an event, and a burst of them larger than the
// event queue of the control-port client would be dropped. The HSFETCHes go out on up to Concurrency
// goroutines: one that tor is slow to take does not hold the others back.
func (m *Manager) fetchMore(ctx context.Context, now time.Time) {
	for addr, f := range m.fetching {
		if now.Sub(f.since) >= fetchAnswerTimeout {
			delete(m.fetching, addr) // its answers are lost (or late): make room
		}
	}
	n := min(len(m.fetchQueue), m.maxFetchesInFlight()-len(m.fetching))
	if n <= 0 {
		return
	}
	batch := m.fetchQueue[:n]
	m.fetchQueue = m.fetchQueue[n:]
	tp := m.cons.ClientTimePeriod()
	ring := m.ring(tp)
	asked := make([]int, n)
	m.forEach(n, func(i int) {
		addr := batch[i]
		asked[i] = m.fetchBackend(ctx, ring, tp, m.byBackend[addr][0].backend(addr), m.fetchTurn)
	})
	for i, addr := range batch {
		if asked[i] > 0 {
			m.fetching[addr] = fetchInFlight{answers: asked[i], since: now}
		}
	}
}

// fetchAnswered counts one of tor's answers (a descriptor or a failure) to the fetch of a backend.
func (m *Manager) fetchAnswered(addr string) {
	f, ok := m.fetching[addr]
	if !ok {
		return
	}
	if f.answers--; f.answers <= 0 {
		delete(m.fetching, addr)
		return
	}
	m.fetching[addr] = f
}

// fetchInFlight is a backend fetch waiting for tor's answers.
type fetchInFlight struct {
	answers int // HSDirs still to answer
	since   time.Time
}

// fetchAnswerTimeout is how long a fetch counts as in flight without all of tor's answers.
const fetchAnswerTimeout = 30 * time.Second

// maxFetchesInFlight bounds the backend fetches waiting for tor's answers: 16 per worker, 128 at the
// default Concurrency (at most 768 answers on the way with 6 HSDirs per fetch).
func (m *Manager) maxFetchesInFlight() int { return 16 * m.cfg.Concurrency }

// fetchBackend sends the HSFETCH of one backend and returns how many HSDirs it asked (0: none);
// fetchMore's workers call it.
func (m *Manager) fetchBackend(ctx context.Context, ring *hashring.Ring, tp hashring.TimePeriod, b *Backend, turn int) int {
	addr := b.Address
	blinded, err := hsv3.BlindPublicKey(b.Identity, tp.Period, tp.PeriodLength)
	if err != nil {
		m.log.Error("cannot blind backend key", "backend", addr, "error", err)
		return 0
	}
	set := ring.FetchSet([32]byte(blinded))
	if len(set) == 0 {
		m.log.Warn("no HSDirs to fetch from", "backend", addr)
		return 0
	}
	n := len(set)
	if m.cfg.FetchServers > 0 {
		n = min(m.cfg.FetchServers, n)
	}
	servers := make([]string, 0, n)
	for i := 0; i < n; i++ { // under a cap, rotate through the fetch set from one round to the next
		servers = append(servers, set[(turn+i)%len(set)].Fingerprint)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = m.tor.FetchDescriptor(cctx, addr, servers)
	cancel()
	if err != nil {
		m.log.Warn("HSFETCH failed", "backend", addr, "error", err)
		return 0
	}
	m.log.Debug("fetching backend descriptor", "backend", addr, "hsdirs", servers)
	return len(servers)
}

// descReceived verifies, decrypts and records a backend descriptor. The descriptor must be signed
// through the blinded key derived from the backend's own address for a time period around now: we do not
// trust the transport.
func (m *Manager) descReceived(ctx context.Context, e torctl.DescReceived, now time.Time) {
	svcs := m.byBackend[e.Address]
	if len(svcs) == 0 {
		return // not ours (another controller of this tor)
	}
	b0 := svcs[0].backend(e.Address)
	b := b0
	desc, err := m.decodeCached(b, e, now)
	if err != nil {
		b.LastFetchError = err.Error()
		m.counters.FetchFailures["rejected"]++
		m.log.Warn("rejected a backend descriptor", "backend", e.Address, "hsdir", e.HSDir, "error", err)
		return
	}
	clientPeriod := m.cons.ClientTimePeriod().Period
	credit := m.cfg.Liveness.MaxRevisionAge - torReuploadMax - m.cfg.FetchInterval
	for _, svc := range svcs {
		b := svc.backend(e.Address)
		rec := recordFromDescriptor(b.Address, b.Name, desc, e.HSDir, now)
		rec.Descriptor = b0.rawDescriptor(e) // so that a new leader can verify it again
		old := b.Record
		if !b.noteRevision(desc.PeriodNum, desc.RevisionCounter, now, m.cfg.Liveness.MaxRevisionAge, credit) {
			m.log.Debug("ignoring an older copy of a backend descriptor", "backend", b.Address, "hsdir", e.HSDir,
				"period", desc.PeriodNum, "revision", desc.RevisionCounter)
			continue
		}
		// A copy for another time period than the record's (tor services keep two published) counts for
		// the revision above, but replaces the record only when clients use its period now: two intro
		// sets taking turns would republish at every fetch.
		if !old.ReceivedAt.IsZero() && desc.PeriodNum != old.PeriodNum && desc.PeriodNum != clientPeriod {
			continue
		}
		rec.RevisionSince = b.RevisionSince
		changedIntros := !sameIntroPoints(old.IntroPoints, rec.IntroPoints)
		newRevision := rec.DescriptorRevision != old.DescriptorRevision || !rec.RevisionSince.Equal(old.RevisionSince)
		b.Record, b.LastFetchError, b.blinded = rec, "", e.Blinded
		if changedIntros {
			b.IntroSetModified = now
			m.log.Info("backend intro points changed", "service", svc.addr, "backend", b.Address,
				"intro_points", len(rec.IntroPoints), "revision", rec.DescriptorRevision)
			m.checkDue = minTime(m.checkDue, now.Add(m.cfg.Debounce))
		}
		// Keep etcd current for a future leader; skip the duplicates of one fetch round.
		if changedIntros || newRevision || now.Sub(old.ReceivedAt) >= m.cfg.FetchInterval/2 {
			rec.Epoch, rec.Node = m.epoch, m.cfg.Node
			if bt := m.batch; bt != nil { // written with the batch's other records (flushBatch)
				k := instanceKey{svc, b.Address}
				if _, ok := bt.instances[k]; !ok {
					bt.order = append(bt.order, k)
				}
				bt.instances[k] = rec
			} else {
				m.putInstance(ctx, svc, rec)
			}
		}
	}
}

// decodeCached returns the decoded descriptor of e: the one its batch decoded ahead, or the backend's
// last one when these are the same bytes and still valid, or a new decode.
func (m *Manager) decodeCached(b *Backend, e torctl.DescReceived, now time.Time) (*hsv3.Descriptor, error) {
	period := m.cons.ClientTimePeriod().Period
	if d := b.cachedDecode(e, period, now); d != nil {
		return d, nil
	}
	var d *hsv3.Descriptor
	var err error
	if r, ok := m.batch.decodedAhead(e); ok {
		d, err = r.desc, r.err
	} else {
		d, err = m.decodeBackend(b, e, now)
	}
	if err == nil {
		b.rememberDecode(e, period, d)
	}
	return d, err
}

// decodeBackend finds which time period the event's blinded key belongs to (tor services keep the
// current and the next descriptor published) and decodes with it.
func (m *Manager) decodeBackend(b *Backend, e torctl.DescReceived, now time.Time) (*hsv3.Descriptor, error) {
	tp := m.cons.ClientTimePeriod()
	period := tp.Period
	for _, p := range []uint64{tp.Period, tp.Period + 1, tp.Period - 1} {
		blinded, err := hsv3.BlindPublicKey(b.Identity, p, tp.PeriodLength)
		if err == nil && base64.RawStdEncoding.EncodeToString(blinded) == trimB64(e.Blinded) {
			period = p
			break
		}
	}
	return hsv3.Decode(e.Descriptor, b.Identity, period, tp.PeriodLength, hsv3.DecodeOptions{Now: now, ClientKey: b.ClientKey})
}

func trimB64(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
