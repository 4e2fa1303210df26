package publisher

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/obcluster/obcluster/store/record"
)

// pendingUpload is an HSPOST target still waiting for tor's HS_DESC UPLOADED or FAILED.
type pendingUpload struct {
	svc        *service
	blindedHex string // the publish record (svc.byBlinded key)
	since      time.Time
	// answered and reason hold one of tor's answers for this HSDir ("" = accepted) while other uploads
	// to the same HSDir are still in flight; see uploadResult.
	answered bool
	reason   string
	// named says tor's answer named this upload's descriptor (its blinded key), so it is this upload's own.
	named bool
}

// uploadResult applies tor's verdict for one HSDir. Tor's UPLOADED event names the address and the HSDir
// but not the descriptor; its FAILED event also names the descriptor's blinded key (blinded, unpadded
// base64; "" when the event has none). Tor may answer uploads to one HSDir in any order. An answer that
// names a descriptor goes to that descriptor's upload; any other to an upload still waiting. With one
// upload in flight to the HSDir the answer is its own. With several (both descriptors of a service go to
// an HSDir responsible for both blinded keys), answers are only counted until every upload has one: named
// answers are certain; if the unnamed ones agree, each upload without a named answer gets it; if they
// differ, nobody can tell which descriptor was refused, so those uploads are recorded failed and retried.
// Retries go to an HSDir one at a time (see publishDescriptor), so their answers are never ambiguous.
func (m *Manager) uploadResult(ctx context.Context, addr, hsdir, blinded, reason string, now time.Time) {
	k := addr + "|" + hsdir
	q := m.pending[k]
	i, named := answerSlot(q, blinded)
	if i < 0 {
		return // not ours, or a late event after a timeout
	}
	if reason != "" {
		m.counters.UploadFailures[hsdir]++
	}
	q[i].answered, q[i].reason, q[i].named = true, reason, named
	m.settleAnswered(ctx, k, hsdir, now)
}

// answerSlot picks the upload in q that one of tor's answers belongs to, and whether the answer names
// it: the upload of the descriptor tor names (blinded), else the first one still waiting; -1 when none
// waits. If an unnamed answer went earlier to the named descriptor's upload, that answer belonged to
// another upload: it moves to the first one still waiting. A blinded key that no upload in q has (a late
// answer, or one tor cannot name) counts as unnamed.
func answerSlot(q []pendingUpload, blinded string) (int, bool) {
	waiting := slices.IndexFunc(q, func(pu pendingUpload) bool { return !pu.answered })
	raw, err := base64.RawStdEncoding.DecodeString(trimB64(blinded))
	if blinded == "" || err != nil {
		return waiting, false
	}
	bhex := record.BlindedKeyHex(raw)
	i := slices.IndexFunc(q, func(pu pendingUpload) bool { return pu.blindedHex == bhex && !pu.named })
	switch {
	case i < 0:
		return waiting, false
	case !q[i].answered:
		return i, true
	case waiting < 0:
		return -1, false // every upload has an answer already: this one is extra
	}
	q[waiting].answered, q[waiting].reason = true, q[i].reason
	return i, true
}

// settleAnswered settles the uploads to one HSDir (key k of m.pending) once each has an answer.
func (m *Manager) settleAnswered(ctx context.Context, k, hsdir string, now time.Time) {
	q := m.pending[k]
	if slices.ContainsFunc(q, func(pu pendingUpload) bool { return !pu.answered }) {
		return
	}
	delete(m.pending, k)
	// Unnamed answers can be swapped between the uploads that got them: they only say something about
	// one upload if they all agree.
	unnamed, reason, agree := 0, "", true
	for _, pu := range q {
		if pu.named {
			continue
		}
		if unnamed > 0 && pu.reason != reason {
			agree = false
		}
		if unnamed == 0 || reason == "" {
			reason = pu.reason
		}
		unnamed++
	}
	if !agree {
		reason = fmt.Sprintf("%s (answer to one of %d uploads in flight to this HSDir; tor does not say which)", reason, unnamed)
	}
	for _, pu := range q {
		if pu.named {
			m.settle(ctx, pu, hsdir, pu.reason, now)
		} else {
			m.settle(ctx, pu, hsdir, reason, now)
		}
	}
}

// settle records the outcome of one upload in memory, and in etcd once no upload of its descriptor
// waits for tor any more: one write per publish record and round, not one per HSDir (a new leader
// reading the record meanwhile sees those HSDirs pending, as it would had this one stopped before
// the answers came).
func (m *Manager) settle(ctx context.Context, pu pendingUpload, hsdir, reason string, now time.Time) {
	if m.note(pu, hsdir, reason, now) && !m.awaiting(pu.svc, pu.blindedHex) {
		m.writeResults(ctx, pu.svc, pu.blindedHex)
	}
}

// awaiting reports whether an upload of svc's descriptor for blindedHex is still unsettled: waiting
// for tor's answer, or answered while another upload to the same HSDir waits.
func (m *Manager) awaiting(svc *service, blindedHex string) bool {
	for _, q := range m.pending {
		for _, pu := range q {
			if pu.svc == svc && pu.blindedHex == blindedHex {
				return true
			}
		}
	}
	return false
}

// inFlight reports whether an upload of svc to hsdir still waits for tor's answer.
func (m *Manager) inFlight(svc *service, hsdir string) bool {
	m.shared.Lock()
	defer m.shared.Unlock()
	return len(m.pending[svc.addr+"|"+hsdir]) > 0
}

// note records the outcome of one upload in memory. It returns false when its descriptor is gone (new
// time period).
func (m *Manager) note(pu pendingUpload, hsdir, reason string, now time.Time) bool {
	st := pu.svc.byBlinded[pu.blindedHex]
	if st == nil {
		return false
	}
	res := record.UploadResult{Status: record.UploadUploaded, At: now}
	if reason != "" {
		res = record.UploadResult{Status: record.UploadFailed, Reason: reason, At: now}
		f := st.published.Failed[hsdir]
		st.published.Failed[hsdir] = Failure{Attempts: max(f.Attempts, 1), LastTry: now}
		m.log.Warn("descriptor upload failed", "service", pu.svc.addr, "hsdir", hsdir, "reason", reason,
			"attempts", max(f.Attempts, 1))
	} else {
		delete(st.published.Failed, hsdir)
		m.log.Debug("descriptor uploaded", "service", pu.svc.addr, "hsdir", hsdir)
	}
	if st.record.HSDirs == nil {
		st.record.HSDirs = map[string]record.UploadResult{}
	}
	st.record.HSDirs[hsdir] = res
	return true
}

// writeResults stores the publish record of one blinded key with the results noted so far.
func (m *Manager) writeResults(ctx context.Context, svc *service, blindedHex string) {
	st := svc.byBlinded[blindedHex]
	if st == nil {
		return
	}
	if m.batch != nil { // once for the batch, with what it noted (flushBatch)
		m.batch.results[resultKey{svc, blindedHex}] = true
		return
	}
	if err := m.putPublished(ctx, svc, blindedHex, st.record); err != nil {
		m.log.Error("recording the upload result failed", "service", svc.addr, "error", err)
	}
}

// reasonReconnected is the failure recorded for uploads whose outcome was lost with tor's control
// connection.
const reasonReconnected = "tor reconnected"

// failPending settles every upload still waiting for tor as failed with reason, one etcd write per
// publish record: after tor's control connection dropped, its answers are lost, and the failed
// HSDirs are retried with the backoff of Decide rather than at the next refresh.
func (m *Manager) failPending(ctx context.Context, reason string, now time.Time) {
	type recordRef struct {
		svc        *service
		blindedHex string
	}
	touched := map[recordRef]bool{}
	for k, q := range m.pending {
		for _, pu := range q {
			if m.note(pu, k[len(pu.svc.addr)+1:], reason, now) {
				touched[recordRef{pu.svc, pu.blindedHex}] = true
			}
		}
	}
	m.pending = map[string][]pendingUpload{}
	for r := range touched {
		m.writeResults(ctx, r.svc, r.blindedHex)
	}
}

// expireUploads gives uploads tor never answered the answer TIMEOUT.
func (m *Manager) expireUploads(ctx context.Context, now time.Time) {
	for k, q := range m.pending {
		if now.Sub(q[0].since) < m.cfg.UploadTimeout {
			continue
		}
		hsdir := k[len(q[0].svc.addr)+1:]
		for i := range q {
			if !q[i].answered && now.Sub(q[i].since) >= m.cfg.UploadTimeout {
				m.counters.UploadFailures[hsdir]++
				q[i].answered, q[i].reason = true, "TIMEOUT"
			}
		}
		m.settleAnswered(ctx, k, hsdir, now)
	}
}
