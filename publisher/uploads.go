package publisher

import (
	"context"
	"time"

	"github.com/obcluster/obcluster/store"
)

// pendingUpload is an HSPOST target still waiting for tor's HS_DESC UPLOADED or FAILED.
type pendingUpload struct {
	svc   *service
	slot  string
	since time.Time
}

// uploadResult applies tor's verdict for one HSDir. Tor's upload events name the address and the HSDir
// but not the descriptor, so the oldest pending upload to that HSDir takes the result.
func (m *Manager) uploadResult(ctx context.Context, addr, hsdir, reason string, now time.Time) {
	k := addr + "|" + hsdir
	q := m.pending[k]
	if len(q) == 0 {
		return // not ours, or a late event after a timeout
	}
	pu := q[0]
	if len(q) == 1 {
		delete(m.pending, k)
	} else {
		m.pending[k] = q[1:]
	}
	m.settle(ctx, pu, hsdir, reason, now)
}

// settle records the outcome of one upload in memory and in etcd.
func (m *Manager) settle(ctx context.Context, pu pendingUpload, hsdir, reason string, now time.Time) {
	if m.note(pu, hsdir, reason, now) {
		m.writeResults(ctx, pu.svc, pu.slot)
	}
}

// note records the outcome of one upload in memory. It returns false when the slot is gone (new period).
func (m *Manager) note(pu pendingUpload, hsdir, reason string, now time.Time) bool {
	st := pu.svc.slots[pu.slot]
	if st == nil {
		return false
	}
	res := store.UploadResult{Status: store.UploadUploaded, At: now}
	if reason != "" {
		res = store.UploadResult{Status: store.UploadFailed, Reason: reason, At: now}
		if reason != reasonReconnected { // tor's connection, not the HSDir, failed
			m.counters.UploadFailures[hsdir]++
		}
		f := st.published.Failed[hsdir]
		st.published.Failed[hsdir] = Failure{Attempts: max(f.Attempts, 1), LastTry: now}
		m.log.Warn("descriptor upload failed", "service", pu.svc.addr, "hsdir", hsdir, "reason", reason,
			"attempts", max(f.Attempts, 1))
	} else {
		delete(st.published.Failed, hsdir)
		m.log.Debug("descriptor uploaded", "service", pu.svc.addr, "hsdir", hsdir)
	}
	if st.record.HSDirs == nil {
		st.record.HSDirs = map[string]store.UploadResult{}
	}
	st.record.HSDirs[hsdir] = res
	return true
}

// writeResults stores the publish record of one slot with the results noted so far.
func (m *Manager) writeResults(ctx context.Context, svc *service, slot string) {
	st := svc.slots[slot]
	if st == nil {
		return
	}
	if err := m.putPublished(ctx, svc, slot, st.record); err != nil {
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
	type slotRef struct {
		svc  *service
		slot string
	}
	touched := map[slotRef]bool{}
	for k, q := range m.pending {
		for _, pu := range q {
			if m.note(pu, k[len(pu.svc.addr)+1:], reason, now) {
				touched[slotRef{pu.svc, pu.slot}] = true
			}
		}
	}
	m.pending = map[string][]pendingUpload{}
	for r := range touched {
		m.writeResults(ctx, r.svc, r.slot)
	}
}

// expireUploads fails uploads tor never reported on.
func (m *Manager) expireUploads(ctx context.Context, now time.Time) {
	for k, q := range m.pending {
		for len(q) > 0 && now.Sub(q[0].since) >= m.cfg.UploadTimeout {
			hsdir := k[len(q[0].svc.addr)+1:]
			m.settle(ctx, q[0], hsdir, "TIMEOUT", now)
			q = q[1:]
		}
		if len(q) == 0 {
			delete(m.pending, k)
		} else {
			m.pending[k] = q
		}
	}
}
