package publisher

import (
	"context"
	"sync"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/torctl"
	"github.com/obcluster/obcluster/store/record"
)

// DefaultConcurrency is how many services (or backends, or etcd writes) the leader works on at once
// when Config.Concurrency is not set: enough that one slow tor reply or etcd write does not hold the
// others, few enough that 2 cores and one etcd are not flooded.
const DefaultConcurrency = 8

// maxEventBatch is the most tor events Run takes from the feed before it runs the due work once.
const maxEventBatch = 512

// forEach calls fn(i) for every i in [0, n) on at most Concurrency goroutines at once and returns
// when every call has returned. With Concurrency 1 (or n 1) it calls fn in order on the calling
// goroutine. While the goroutines run, the process has every P it may use (Config.Procs).
func (m *Manager) forEach(n int, fn func(i int)) {
	limit := m.cfg.Concurrency
	if limit <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	if m.cfg.Procs != nil {
		release := m.cfg.Procs.Busy()
		defer release()
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// eventBatch collects, while Run handles a batch of tor events, the descriptors decoded ahead (in
// parallel) and the etcd writes the events call for, which are made together when the batch is done.
type eventBatch struct {
	decoded map[decodeKey]decodeResult
	// instances are the instance records to store, the last one per service and backend.
	instances map[instanceKey]record.Instance
	order     []instanceKey
	// results are the publish records whose upload results changed.
	results map[resultKey]bool
}

type decodeKey struct{ addr, blinded, desc string }

type decodeResult struct {
	desc *hsv3.Descriptor
	err  error
}

type instanceKey struct {
	svc     *service
	backend string
}

type resultKey struct {
	svc        *service
	blindedHex string
}

// handleEvents handles a batch of tor events in order, as handleEvent would one by one, but decodes the
// backend descriptors among them ahead on Concurrency goroutines and makes the etcd writes they call
// for together at the end (concurrently, one per record).
func (m *Manager) handleEvents(ctx context.Context, evs []torctl.Event) {
	now := m.cfg.Clock.Now()
	b := &eventBatch{decoded: m.decodeAhead(evs, now), instances: map[instanceKey]record.Instance{}, results: map[resultKey]bool{}}
	m.batch = b
	for _, ev := range evs {
		m.handleEvent(ctx, ev)
	}
	m.batch = nil
	m.flushBatch(ctx, b)
}

// decodeAhead decodes, in parallel, every backend descriptor in evs that descReceived will need and
// has not decoded before (each HSDir serves its own copy; the copies of one fetch are usually the same).
func (m *Manager) decodeAhead(evs []torctl.Event, now time.Time) map[decodeKey]decodeResult {
	if !m.leading || m.cons == nil {
		return nil
	}
	type job struct {
		key decodeKey
		b   *Backend
		ev  torctl.DescReceived
	}
	var jobs []job
	seen := map[decodeKey]bool{}
	for _, ev := range evs {
		e, ok := ev.(torctl.DescReceived)
		if !ok || len(m.byBackend[e.Address]) == 0 {
			continue
		}
		b := m.byBackend[e.Address][0].backend(e.Address)
		k := decodeKey{e.Address, e.Blinded, string(e.Descriptor)}
		if seen[k] || b.cachedDecode(e, m.cons.ClientTimePeriod().Period, now) != nil {
			continue
		}
		seen[k] = true
		jobs = append(jobs, job{k, b, e})
	}
	if len(jobs) < 2 {
		return nil // decoded in line
	}
	res := make([]decodeResult, len(jobs))
	m.forEach(len(jobs), func(i int) {
		d, err := m.decodeBackend(jobs[i].b, jobs[i].ev, now)
		res[i] = decodeResult{d, err}
	})
	out := make(map[decodeKey]decodeResult, len(jobs))
	for i, j := range jobs {
		out[j.key] = res[i]
	}
	return out
}

// flushBatch makes the etcd writes of a batch, at most Concurrency at once.
func (m *Manager) flushBatch(ctx context.Context, b *eventBatch) {
	type write func()
	var writes []write
	for _, k := range b.order {
		rec := b.instances[k]
		writes = append(writes, func() { m.putInstance(ctx, k.svc, rec) })
	}
	for k := range b.results {
		st := k.svc.byBlinded[k.blindedHex]
		if st == nil {
			continue
		}
		rec := st.record
		writes = append(writes, func() {
			if err := m.putPublished(ctx, k.svc, k.blindedHex, rec); err != nil {
				m.log.Error("recording the upload result failed", "service", k.svc.addr, "error", err)
			}
		})
	}
	m.forEach(len(writes), func(i int) { writes[i]() })
}

// putInstance stores a backend's instance record for a future leader.
func (m *Manager) putInstance(ctx context.Context, svc *service, rec record.Instance) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.records.PutInstance(cctx, m.epoch, svc.addr, rec); err != nil {
		m.log.Error("storing the backend intro points failed", "backend", rec.Address, "error", err)
	}
}

// decodeCache is the last descriptor of a backend that verified: the same bytes, under the same
// blinded key and client time period, decode to the same result until the first of its certificates
// expires (decoding depends on the time only through their expiry).
type decodeCache struct {
	raw, blinded string
	period       uint64 // the client time period it was decoded in
	desc         *hsv3.Descriptor
	until        time.Time
}

// cachedDecode returns the decoded descriptor of e if b decoded the same one before and it is still
// valid at now; nil otherwise.
func (b *Backend) cachedDecode(e torctl.DescReceived, clientPeriod uint64, now time.Time) *hsv3.Descriptor {
	c := b.decoded
	if c == nil || c.blinded != e.Blinded || c.period != clientPeriod || !now.Before(c.until) || c.raw != string(e.Descriptor) {
		return nil
	}
	return c.desc
}

// rememberDecode keeps d, decoded from e, for the copies of the same descriptor that follow.
func (b *Backend) rememberDecode(e torctl.DescReceived, clientPeriod uint64, d *hsv3.Descriptor) {
	until := d.SigningKeyCert.Expiry()
	for _, ip := range d.IntroPoints() {
		for _, c := range []*hsv3.Cert{ip.AuthKeyCert, ip.EncKeyCert} {
			if c != nil && c.Expiry().Before(until) {
				until = c.Expiry()
			}
		}
	}
	kept := *d // the decrypted layers' text is not needed again: do not keep it for every backend
	kept.MiddlePlaintext, kept.InnerPlaintext = nil, nil
	b.decoded = &decodeCache{raw: string(e.Descriptor), blinded: e.Blinded, period: clientPeriod, desc: &kept, until: until}
}

// rawDescriptor returns e's descriptor as a string, sharing the decode cache's copy when it is the same.
func (b *Backend) rawDescriptor(e torctl.DescReceived) string {
	if c := b.decoded; c != nil && c.raw == string(e.Descriptor) {
		return c.raw
	}
	return string(e.Descriptor)
}

// decodedAhead returns the result of decoding e ahead, if the batch did.
func (b *eventBatch) decodedAhead(e torctl.DescReceived) (decodeResult, bool) {
	if b == nil {
		return decodeResult{}, false
	}
	r, ok := b.decoded[decodeKey{e.Address, e.Blinded, string(e.Descriptor)}]
	return r, ok
}

// takeEvents returns first and the events already waiting in events after it, up to maxEventBatch.
func takeEvents(first torctl.Event, events <-chan torctl.Event) []torctl.Event {
	evs := []torctl.Event{first}
	for len(evs) < maxEventBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}
