package health

import (
	"errors"
	"fmt"
	"time"
)

// Config is how the nodes of a cluster probe and how the leader judges: one probe round every
// Interval on every node.
type Config struct {
	// Enabled turns probing and judging on. With it off no backend ever leaves a descriptor on
	// probe evidence (passive staleness still applies).
	Enabled bool
	// Interval is the length of a probe round: each node probes its share of the backends once per
	// round.
	Interval time.Duration
	// Timeout bounds one probe (tor gives up on an onion connection after SocksTimeout, 2 min).
	Timeout time.Duration
	// MinDownTime is the least time between the first and the last of the failures that take a
	// backend down: a few failures in one burst are not enough.
	MinDownTime time.Duration
	// Concurrency bounds the probes a node runs at once.
	Concurrency int
	// Rules are the defaults of every service; a service may override them.
	Rules Rules
}

// Rules are the per-service thresholds.
type Rules struct {
	// Enabled: the service's backends are probed and may leave its descriptor.
	Enabled bool
	// Port is the virtual port probed on each backend. Any answer of the backend's tor after the
	// rendezvous counts as alive, so a port the backend does not serve works too.
	Port int
	// FailuresToDown is how many failures in a row (with no success between them) take a backend
	// down.
	FailuresToDown int
	// SuccessesToUp is how many successes in a row bring a down backend back (one is enough when
	// its descriptor has a new revision since it went down).
	SuccessesToUp int
	// MaxDownFraction caps the share of a service's backends removed on probe evidence: at most
	// floor(MaxDownFraction * backends). Below 1, so a descriptor is never emptied by probes.
	MaxDownFraction float64
}

// DefaultConfig returns the defaults for the public Tor network: each backend is probed every 30 s
// (by one node or a few), and a dead one leaves the descriptor after 3 failures over at least 60 s.
func DefaultConfig() Config {
	return Config{
		Enabled:     true,
		Interval:    30 * time.Second,
		Timeout:     30 * time.Second,
		MinDownTime: 60 * time.Second,
		Concurrency: 8,
		Rules:       DefaultRules(),
	}
}

// DefaultRules returns the default per-service rules.
func DefaultRules() Rules {
	return Rules{Enabled: true, Port: 80, FailuresToDown: 3, SuccessesToUp: 2, MaxDownFraction: 0.5}
}

// Validate reports every setting that cannot work, naming its config key (under "health.").
func (c Config) Validate() error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("health.interval %v: must be at least 1s", c.Interval))
	}
	if c.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("health.timeout %v: must be at least 1s", c.Timeout))
	}
	if c.MinDownTime < 0 {
		errs = append(errs, fmt.Errorf("health.min-down-time %v: must not be negative", c.MinDownTime))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("health.concurrency %d: must be at least 1", c.Concurrency))
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate reports every rule that cannot work, naming its config key.
func (r Rules) Validate() error {
	var errs []error
	if r.Port < 1 || r.Port > 65535 {
		errs = append(errs, fmt.Errorf("health.port %d: must be 1 to 65535", r.Port))
	}
	if r.FailuresToDown < 1 {
		errs = append(errs, fmt.Errorf("health.failures %d: must be at least 1", r.FailuresToDown))
	}
	if r.SuccessesToUp < 1 {
		errs = append(errs, fmt.Errorf("health.successes %d: must be at least 1", r.SuccessesToUp))
	}
	if !(r.MaxDownFraction >= 0 && r.MaxDownFraction < 1) {
		errs = append(errs, fmt.Errorf("health.max-down-fraction %v: must be at least 0 and below 1", r.MaxDownFraction))
	}
	return errors.Join(errs...)
}

// MaxDown is how many of n backends may be down on probe evidence.
func (r Rules) MaxDown(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.MaxDownFraction * float64(n))
}
