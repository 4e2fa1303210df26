package publisher

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/obcluster/obcluster/store/record"
)

// Health is the leader's backend-health judgement as the daemon hands it to the publisher
// (obhost/health.go judges; publisher/health holds the rules).
type Health struct {
	// Epoch is the leadership that judged.
	Epoch int64
	// Excluded are, by service address (without ".onion"), the backends that leave the service's
	// descriptors on probe evidence, with the reason. A backend not listed is not excluded.
	Excluded map[string]map[string]string
	// Verdicts are the leader's verdicts by backend address, shown in status.
	Verdicts map[string]record.BackendHealth
}

// SetHealth replaces the backends excluded on probe evidence. An excluded backend is not live (Live
// says "down: <reason>"); a change makes the next step decide at once whether to publish. It
// returns once the Run goroutine applied it, or when ctx ends.
func (m *Manager) SetHealth(ctx context.Context, h Health) error {
	done := make(chan struct{})
	select {
	case m.healthCh <- healthUpdate{h: h, done: done}:
	case <-ctx.Done():
		return fmt.Errorf("set health: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("set health: %w", ctx.Err())
	}
}

type healthUpdate struct {
	h    Health
	done chan struct{}
}

// applyHealth runs on the Run goroutine.
func (m *Manager) applyHealth(h Health) {
	changed := false
	for _, svc := range m.services {
		ex := h.Excluded[svc.addr]
		for _, b := range svc.backends {
			b.Verdict = h.Verdicts[b.Address]
			why := ex[b.Address]
			if why == b.Excluded {
				continue
			}
			changed = true
			if why != "" {
				m.log.Info("backend leaves the descriptor: down on probe evidence", "service", svc.addr,
					"backend", b.Address, "reason", why)
			} else {
				m.log.Info("backend back in the descriptor", "service", svc.addr, "backend", b.Address,
					"reason", b.Verdict.Reason)
			}
			b.Excluded = why
		}
		for _, addr := range slices.Sorted(maps.Keys(ex)) {
			if svc.backend(addr) == nil {
				m.log.Debug("health exclusion of a backend the service does not have", "service", svc.addr, "backend", addr)
			}
		}
	}
	first := h.Epoch != 0 && h.Epoch != m.healthEpoch // the judgement a new leader waits for
	m.healthEpoch = h.Epoch
	now := m.cfg.Clock.Now()
	switch {
	case changed:
		m.checkDue = now
	case first:
		// Decide now that the health is known, but like any change: descriptors of backends that
		// arrived a moment ago still get their debounce, so that the first upload carries them all.
		m.checkDue = minTime(m.checkDue, now.Add(m.cfg.Debounce))
	}
}

// healthKnown reports whether a publish may go ahead as far as health is concerned: the judge has
// handed in the health of this leadership, or the wait for it (Config.HealthWait) has passed.
func (m *Manager) healthKnown() bool {
	if m.cfg.HealthWait <= 0 || m.healthEpoch == m.epoch {
		return true
	}
	return !m.cfg.Clock.Now().Before(m.leadingSince.Add(m.cfg.HealthWait))
}
