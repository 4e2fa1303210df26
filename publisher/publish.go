package publisher

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store/record"
)

// descNames are the Python tool's names of a service's two descriptors, by index (descIndex): 0 is
// the first (tor: current) and 1 the second (tor: next), as in hashring.Consensus.TimePeriods.
var descNames = [2]string{"first", "second"}

// publishAll runs the publish decision for both descriptors of every service. Services are decided,
// built, uploaded and recorded on up to Concurrency workers, one worker per service at a time, so that
// a slow tor reply or etcd write for one service does not hold the others. A worker touches only its
// service's state and, under m.shared, the counters, the uploads in flight and the next check time.
func (m *Manager) publishAll(ctx context.Context, now time.Time) {
	periods := m.cons.TimePeriods()
	for _, tp := range append(periods[:], m.cons.ClientTimePeriod()) {
		m.ring(tp) // built here: the workers only read m.rings
	}
	m.forEach(len(m.services), func(i int) {
		m.publishService(ctx, m.services[i], periods, now)
	})
	if m.prunedEpoch != m.epoch {
		m.pruneUnconfigured(ctx)
	}
	m.pruneFailureCounts(periods)
}

// publishService runs the publish decision for both descriptors of svc, then deletes its records of
// past time periods.
func (m *Manager) publishService(ctx context.Context, svc *service, periods [2]hashring.TimePeriod, now time.Time) {
	for descIndex, tp := range periods {
		if err := m.publishDescriptor(ctx, svc, descIndex, tp, now); err != nil {
			m.countPublish("error")
			m.log.Error("publishing failed", "service", svc.addr, "descriptor", descNames[descIndex], "error", err)
		}
	}
	m.prunePublished(ctx, svc, periods)
}

// countPublish counts one publish outcome (uploaded, error); publishAll's workers call it.
func (m *Manager) countPublish(result string) {
	m.shared.Lock()
	defer m.shared.Unlock()
	m.counters.Publishes[result]++
}

// descPlan is the plan of one publication of one descriptor: which backends' intro points go to
// which responsible HSDir.
type descPlan struct {
	responsible []string       // fingerprints, in ring order
	byHSDir     map[string]int // fingerprint -> subset index
	subsets     [][]Share
	introMap    map[string]string              // auth key (base64) -> backend address
	usable      map[string][]record.IntroPoint // per live backend; shares index these
	left        []string
}

// plan computes which backends' intro points go to which responsible HSDir.
func (m *Manager) plan(svc *service, ring *hashring.Ring, blinded [32]byte, now time.Time) descPlan {
	var pbs []PlanBackend
	usable := map[string][]record.IntroPoint{}
	for _, b := range svc.backends {
		if ok, _ := b.Live(now, m.cfg.Liveness); !ok {
			continue
		}
		ips := b.usableIntroPoints(now, m.cfg.Liveness.CertMargin)
		usable[b.Address] = ips
		pb := PlanBackend{ID: b.Address}
		for _, ip := range ips {
			pb.Relays = append(pb.Relays, introRelay(ip))
		}
		pbs = append(pbs, pb)
	}
	resp := ring.Responsible(blinded)
	fetch := ring.FetchSet(blinded)
	p := PlanDescriptors(pbs, svc.perBackend, max(len(fetch), 1))
	dp := descPlan{byHSDir: map[string]int{}, subsets: p.Subsets, introMap: map[string]string{}, usable: usable, left: p.Left}
	fetchPos := map[string]int{}
	for i, h := range fetch {
		fetchPos[h.Fingerprint] = i
	}
	for i, h := range resp {
		dp.responsible = append(dp.responsible, h.Fingerprint)
		sub := p.SubsetFor(i)
		if j, ok := fetchPos[h.Fingerprint]; ok {
			sub = p.SubsetFor(j)
		}
		if sub >= 0 {
			dp.byHSDir[h.Fingerprint] = sub
		}
	}
	for _, sub := range p.Subsets {
		for _, sh := range sub {
			for _, j := range sh.Intros {
				dp.introMap[introSetKey(usable[sh.ID][j])] = sh.ID
			}
		}
	}
	return dp
}

// backendsByHSDir lists, per responsible HSDir, the backends in the descriptor it gets.
func (dp descPlan) backendsByHSDir() map[string][]string {
	out := make(map[string][]string, len(dp.byHSDir))
	for fp, sub := range dp.byHSDir {
		for _, sh := range dp.subsets[sub] {
			out[fp] = append(out[fp], sh.ID)
		}
	}
	return out
}

// publishDescriptor decides and, when needed, builds and uploads descriptor descIndex (0 first,
// 1 second) of svc, for time period tp: plan, decide, record the revision, upload, remember.
func (m *Manager) publishDescriptor(ctx context.Context, svc *service, descIndex int, tp hashring.TimePeriod, now time.Time) error {
	blinded, err := svc.blinded(tp)
	if err != nil {
		return err
	}
	bhex := record.BlindedKeyHex(blinded)
	st := svc.byBlinded[bhex]
	if st == nil {
		st = &descState{}
		svc.byBlinded[bhex] = st
	}
	dp := m.plan(svc, m.ring(tp), [32]byte(blinded), now)
	backends := dp.backendsByHSDir()
	want := Want{Period: tp.Period, IntroSet: digestIntroMap(dp.introMap), Split: digestSplit(backends),
		HSDirs: dp.responsible, Epoch: m.epoch, Clients: svc.clientsDigest}
	copy(want.Blinded[:], blinded)
	d := Decide(st.published, want, now, m.cfg.Timing)
	if d.Retry {
		// One upload at a time to an HSDir being retried, so that tor's answer is known to be this
		// descriptor's (see uploadResult); the others wait for the next check.
		d.Targets = slices.DeleteFunc(d.Targets, func(fp string) bool { return m.inFlight(svc, fp) })
		d.Publish = len(d.Targets) > 0
	}
	if !d.Publish {
		return nil
	}
	if m.awaitProbe(ctx, svc, st, tp, blinded, now) {
		return nil // the last answer, or the bound, brings the check forward
	}
	if len(dp.introMap) == 0 {
		if st.published.UploadedAt.IsZero() {
			m.log.Debug("nothing to publish yet: no live backend", "service", svc.addr, "descriptor", descNames[descIndex])
		}
		return nil // keep whatever is on the HSDirs rather than publish an empty descriptor
	}
	if _, err := m.lead.MayPublish(ctx, m.epoch); err != nil {
		return fmt.Errorf("not publishing: %w", err)
	}
	if len(dp.left) > 0 {
		m.log.Warn("no room for some backends in any descriptor (at most 20 intro points, one per relay, in each)", "service", svc.addr,
			"left_out", strings.Join(dp.left, ","))
	}

	rev := NextRevision(m.timeBasedRevision(svc, descIndex, tp, now), max(st.published.Revision, st.record.RevisionCounter, st.heldRevision()))
	descs, err := m.encodeSubsets(svc, tp, dp, rev, now)
	if err != nil {
		return err
	}
	rec := st.record
	if d.Retry {
		rec.HSDirs = cloneMap(rec.HSDirs)
		rec.Backends = cloneMap(rec.Backends)
		for _, fp := range d.Targets {
			rec.Backends[fp] = backends[fp]
		}
	} else {
		rec = record.Publish{
			PeriodNum: tp.Period, PeriodLength: tp.PeriodLength, BlindedKey: blinded,
			UploadedAt: now, HSDirs: map[string]record.UploadResult{}, IntroPoints: dp.introMap,
			Backends: backends,
		}
	}
	if err := m.recordRevision(ctx, svc, st, bhex, rec, rev, d.Targets, now); err != nil {
		return err
	}
	posted, uploads, err := m.upload(ctx, svc, descIndex, st, bhex, dp, descs, d.Targets, now)
	if err != nil {
		return err
	}
	m.remember(svc, descIndex, st, want, d, rev, now)
	if posted == 0 {
		// Counted by publishAll as an error; the HSDirs are retried with backoff.
		return fmt.Errorf("tor accepted none of the %d upload(s) of revision %d", uploads, rev)
	}
	m.countPublish("uploaded")
	m.log.Info("uploaded descriptor", "service", svc.addr, "descriptor", descNames[descIndex], "reason", d.Reason,
		"revision", rev, "period", tp.Period, "intro_points", len(dp.introMap), "descriptors", len(descs),
		"hsdirs", len(d.Targets))
	return nil
}

// recordRevision stores rec with revision counter rev, epoch and node, and targets pending, before
// anything is uploaded: whatever happens next, no later leader reuses the revision.
func (m *Manager) recordRevision(ctx context.Context, svc *service, st *descState, bhex string, rec record.Publish,
	rev uint64, targets []string, now time.Time) error {
	rec.RevisionCounter, rec.Epoch, rec.Node = rev, m.epoch, m.cfg.Node
	for _, fp := range targets {
		rec.HSDirs[fp] = record.UploadResult{Status: record.UploadPending, At: now}
	}
	if err := m.putPublished(ctx, svc, bhex, rec); err != nil {
		return fmt.Errorf("recording revision %d: %w", rev, err)
	}
	st.record = rec
	return nil
}

// upload sends one HSPOST per distinct descriptor, to the targets that get it, each checked against
// the self-fencing deadline, and queues the targets for tor's answers. An HSPOST that fails marks its
// targets failed in st.record. It returns how many HSPOSTs tor accepted, of how many, or an error when
// the leadership ended before an HSPOST (the rest are not sent).
func (m *Manager) upload(ctx context.Context, svc *service, descIndex int, st *descState, bhex string, dp descPlan,
	descs map[int][]byte, targets []string, now time.Time) (posted, uploads int, err error) {
	groups := map[int][]string{}
	for _, fp := range targets {
		groups[dp.byHSDir[fp]] = append(groups[dp.byHSDir[fp]], fp)
	}
	subs := make([]int, 0, len(groups))
	for s := range groups {
		subs = append(subs, s)
	}
	sort.Ints(subs)
	for _, s := range subs {
		targets := groups[s]
		until, err := m.lead.MayPublish(ctx, m.epoch)
		if err != nil {
			return posted, len(subs), fmt.Errorf("stopped before uploading: %w", err)
		}
		// The HSPOST must not be sent after the self-fencing deadline, even if it waits for tor's
		// control connection that long: torctl does not send a command whose context has ended.
		cctx, cancel := context.WithDeadline(ctx, until)
		cctx, cancelPost := context.WithTimeout(cctx, 30*time.Second)
		err = m.tor.PostDescriptor(cctx, descs[s], svc.addr, targets)
		cancelPost()
		cancel()
		if err != nil {
			for _, fp := range targets {
				st.record.HSDirs[fp] = record.UploadResult{Status: record.UploadFailed, Reason: err.Error(), At: now}
			}
			m.log.Error("HSPOST failed", "service", svc.addr, "descriptor", descNames[descIndex], "hsdirs", targets, "error", err)
			continue
		}
		posted++
		m.shared.Lock()
		for _, fp := range targets {
			k := svc.addr + "|" + fp
			m.pending[k] = append(m.pending[k], pendingUpload{svc: svc, blindedHex: bhex, since: now})
		}
		m.shared.Unlock()
	}
	return posted, len(subs), nil
}

// remember keeps what was published, for the next decision.
func (m *Manager) remember(svc *service, descIndex int, st *descState, want Want, d Decision, rev uint64, now time.Time) {
	p := &st.published
	if !d.Retry {
		*p = Published{Period: want.Period, Blinded: want.Blinded, IntroSet: want.IntroSet, Split: want.Split,
			Clients: want.Clients, HSDirs: want.HSDirs, UploadedAt: now, Epoch: m.epoch, Failed: map[string]Failure{}}
	}
	p.Revision = rev
	for _, fp := range d.Targets {
		switch {
		case d.Retry: // one more attempt; the outcome arrives as an HS_DESC event
			p.Failed[fp] = Failure{Attempts: p.Failed[fp].Attempts + 1, LastTry: now}
		case st.record.HSDirs[fp].Status == record.UploadFailed: // HSPOST itself failed
			p.Failed[fp] = Failure{Attempts: 1, LastTry: now}
		}
	}
	svc.lastAttempt[descIndex] = descAttempt{at: now.UTC().Format("2006-01-02 15:04:05"), reason: d.Reason}
}

// timeBasedRevision is tor's OPE revision counter: seconds since the start of the SRV run the
// descriptor's SRV comes from (previous run for the first descriptor, current for the second).
func (m *Manager) timeBasedRevision(svc *service, descIndex int, tp hashring.TimePeriod, now time.Time) uint64 {
	sched := m.cons.Schedule()
	start := sched.SRVRunStart(m.cons.ValidAfter)
	if descIndex == 0 {
		start = start.Add(-24 * time.Duration(sched.VotingInterval) * time.Second)
	}
	secs := now.Sub(start)
	if secs < 0 {
		return 0
	}
	key := hsv3.RevisionCounterKey(svc.key.BlindedKey(tp.Period, tp.PeriodLength))
	rev, err := hsv3.OPERevisionCounter(key, uint64(secs/time.Second))
	if err != nil {
		m.log.Debug("time-based revision counter unavailable; counting up", "error", err)
		return 0
	}
	return rev
}

// encodeSubsets builds one descriptor per non-empty subset.
func (m *Manager) encodeSubsets(svc *service, tp hashring.TimePeriod, dp descPlan, rev uint64, now time.Time) (map[int][]byte, error) {
	out := map[int][]byte{}
	used := map[int]bool{}
	for _, s := range dp.byHSDir {
		used[s] = true
	}
	for s := range used {
		var ips []hsv3.IntroPoint
		flow, first := "", true
		for _, sh := range dp.subsets[s] {
			b := svc.backend(sh.ID)
			for _, j := range sh.Intros {
				ip, err := hsv3IntroPoint(dp.usable[sh.ID][j])
				if err != nil {
					return nil, fmt.Errorf("backend %s: stored intro point: %w", sh.ID, err)
				}
				ips = append(ips, ip)
			}
			// flow-control only when every contributing backend advertises the same line.
			if first {
				flow, first = b.Record.FlowControl, false
			} else if flow != b.Record.FlowControl {
				flow = ""
			}
		}
		desc, err := hsv3.Encode(hsv3.EncodeParams{
			Identity: svc.key, PeriodNum: tp.Period, PeriodLength: tp.PeriodLength,
			RevisionCounter: rev, IntroPoints: ips, FlowControl: flow, Now: now, Rand: m.cfg.Rand,
			MaxSize: m.cons.MaxDescriptorSize(), AuthorizedClients: svc.clients,
		})
		if err != nil {
			return nil, fmt.Errorf("building descriptor %d: %w", s, err)
		}
		out[s] = desc
	}
	return out, nil
}

func (m *Manager) putPublished(ctx context.Context, svc *service, blindedHex string, rec record.Publish) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return m.records.PutPublished(cctx, m.epoch, svc.addr, blindedHex, rec)
}

// cloneMap copies in; unlike maps.Clone, the copy of a nil map is an empty one, ready for writes.
func cloneMap[V any](in map[string]V) map[string]V {
	out := make(map[string]V, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
