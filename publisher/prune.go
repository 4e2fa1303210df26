package publisher

import (
	"context"
	"time"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/store/record"
)

// prunePublished deletes the publish records of svc whose time period ended before the older of the
// two periods the leader publishes for: no client asks for those descriptors any more and HSDirs have
// dropped them, so their revision counters can never matter again. Records of a later period (another
// node's newer consensus) are kept. A record whose delete fails stays and is tried again at the next
// check.
func (m *Manager) prunePublished(ctx context.Context, svc *service, periods [2]hashring.TimePeriod) {
	keep := map[string]bool{}
	oldest := ^uint64(0) // start of the older period, in minutes
	for _, tp := range periods {
		if blinded, err := svc.blinded(tp); err == nil {
			keep[record.BlindedKeyHex(blinded)] = true
		}
		oldest = min(oldest, tp.Period*tp.PeriodLength)
	}
	var past []string
	for k, st := range svc.byBlinded {
		if keep[k] {
			continue
		}
		if r := st.record; r.RevisionCounter == 0 && r.PeriodNum == 0 {
			delete(svc.byBlinded, k) // never published (no live backend then): nothing stored
		} else if (r.PeriodNum+1)*r.PeriodLength <= oldest {
			past = append(past, k)
		}
	}
	if len(past) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.records.DeleteRecords(cctx, m.epoch, svc.addr, nil, past); err != nil {
		m.log.Error("deleting publish records of past time periods failed; will retry", "service", svc.addr,
			"slots", past, "error", err)
		return
	}
	for _, k := range past {
		delete(svc.byBlinded, k)
	}
	m.log.Info("deleted publish records of past time periods", "service", svc.addr, "slots", past)
}

// pruneUnconfigured deletes, once per leadership and after each reconfiguration, the instance records
// of backends no longer in their service's configuration and every instance and publish record of a
// service no longer configured. A service's sealed master key is never deleted: it is the operator's
// (cluster set-config / cluster init).
func (m *Manager) pruneUnconfigured(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	recorded, err := m.records.RecordKeys(cctx)
	if err != nil {
		m.log.Error("listing records to delete those of removed services and backends failed; will retry", "error", err)
		return
	}
	configured := map[string]*service{}
	for _, svc := range m.services {
		configured[svc.addr] = svc
	}
	done := true
	for addr, recs := range recorded {
		insts, published := recs.Instances, recs.Published
		if svc := configured[addr]; svc != nil {
			insts, published = nil, nil // its publish records are pruned by period
			for _, inst := range recs.Instances {
				if svc.backend(inst) == nil {
					insts = append(insts, inst)
				}
			}
		}
		if len(insts)+len(published) == 0 {
			continue
		}
		if err := m.records.DeleteRecords(cctx, m.epoch, addr, insts, published); err != nil {
			m.log.Error("deleting records of removed services and backends failed; will retry", "service", addr, "error", err)
			done = false
			continue
		}
		if configured[addr] == nil {
			m.log.Info("deleted the records of a service no longer configured (its sealed key stays)", "service", addr,
				"instances", len(insts), "publish_records", len(published))
		} else {
			m.log.Info("deleted the instance records of backends no longer configured", "service", addr, "backends", insts)
		}
	}
	if done {
		m.prunedEpoch = m.epoch
	}
}

// pruneFailureCounts keeps the per-HSDir upload failure counts of the HSDirs responsible for a current
// descriptor of a service only: the metric labelled by HSDir then has at most one series per
// responsible HSDir, however many HSDirs come and go.
func (m *Manager) pruneFailureCounts(periods [2]hashring.TimePeriod) {
	if len(m.counters.UploadFailures) == 0 {
		return
	}
	keep := map[string]bool{}
	for _, svc := range m.services {
		for _, tp := range periods {
			blinded, err := svc.blinded(tp)
			if err != nil {
				continue
			}
			for _, h := range m.ring(tp).Responsible([32]byte(blinded)) {
				keep[h.Fingerprint] = true
			}
		}
	}
	for fp := range m.counters.UploadFailures {
		if !keep[fp] {
			delete(m.counters.UploadFailures, fp)
		}
	}
}
