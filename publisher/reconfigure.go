package publisher

import (
	"context"
	"fmt"
)

// Reconfigure replaces the services and backends (a SIGHUP reload or a config change in etcd) without
// losing state: backends that stay keep their intro points and services that stay keep their publish
// records, so only a real change of the intro points leads to a new upload. It returns once the Run
// goroutine applied the change, or when ctx ends.
func (m *Manager) Reconfigure(ctx context.Context, services []ServiceConfig) error {
	cfg := m.cfg
	cfg.Services = services
	if err := cfg.Validate(); err != nil {
		return err
	}
	built := make([]*service, 0, len(services))
	for _, sc := range services {
		svc, err := newService(sc, cfg)
		if err != nil {
			return err
		}
		built = append(built, svc)
	}
	done := make(chan struct{})
	select {
	case m.reconf <- reconfig{services: built, done: done}:
	case <-ctx.Done():
		return fmt.Errorf("reconfigure: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("reconfigure: %w", ctx.Err())
	}
}

type reconfig struct {
	services []*service
	done     chan struct{}
}

// applyReconfig runs on the Run goroutine.
func (m *Manager) applyReconfig(rc reconfig) {
	old := map[string]*service{}
	for _, s := range m.services {
		old[s.addr] = s
	}
	byBackend := map[string][]*service{}
	var added, removed, kept int
	for _, svc := range rc.services {
		if prev := old[svc.addr]; prev != nil {
			svc.byBlinded, svc.lastAttempt = prev.byBlinded, prev.lastAttempt
			for i, b := range svc.backends {
				if pb := prev.backend(b.Address); pb != nil {
					pb.Name, pb.ClientKey = b.Name, b.ClientKey
					svc.backends[i] = pb
					kept++
				} else {
					added++
				}
			}
			removed += len(prev.backends)
			delete(old, svc.addr)
		} else {
			added += len(svc.backends)
		}
		for _, b := range svc.backends {
			byBackend[b.Address] = append(byBackend[b.Address], svc)
		}
	}
	removed -= kept
	for addr := range old {
		m.log.Info("service removed from the configuration; its descriptors expire on the HSDirs", "service", addr)
	}
	// tor's answers to a removed service's uploads must not write back the records pruned below.
	for k, q := range m.pending {
		if len(q) > 0 && old[q[0].svc.addr] != nil {
			delete(m.pending, k)
		}
	}
	m.services, m.byBackend = rc.services, byBackend
	m.log.Info("configuration reloaded", "services", len(m.services), "backends_added", added,
		"backends_removed", removed, "backends_kept", kept)
	now := m.cfg.Clock.Now()
	m.fetchDue, m.checkDue = now, now.Add(m.cfg.Debounce) // fetch the new ones, then decide
	// The leader deletes the records of what was removed at its next check.
	m.prunedEpoch = 0
	close(rc.done)
}
