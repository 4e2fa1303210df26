package config

import (
	"errors"
	"fmt"
	"net"

	"github.com/obcluster/obcluster/publisher/health"
)

// Health configures backend health probes: cluster-wide settings (every node's file should agree)
// and the per-service rules' defaults. The defaults are health.DefaultConfig's; `enabled: false`
// turns probing and judging off.
type Health struct {
	// Enabled turns the probes on (default true).
	Enabled bool `yaml:"enabled"`
	// Interval is the length of one probe round (default 30s).
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe (default 30s).
	Timeout Duration `yaml:"timeout"`
	// MinDownTime is the least time the failures that take a backend down must span (default 60s).
	MinDownTime Duration `yaml:"min-down-time"`
	// Concurrency bounds the probes a node runs at once (default 8).
	Concurrency int `yaml:"concurrency"`
	// Socks is host:port of an existing SocksPort with ExtendedErrors; empty: find or open one
	// through the control port.
	Socks string `yaml:"socks"`
	// Port, Failures, Successes and MaxDownFraction are the defaults of every service's rules.
	Port            int     `yaml:"port"`
	Failures        int     `yaml:"failures"`
	Successes       int     `yaml:"successes"`
	MaxDownFraction float64 `yaml:"max-down-fraction"`
}

// ServiceHealth overrides the health section's rules for one service; each key is optional.
type ServiceHealth struct {
	Enabled         *bool    `yaml:"enabled"`
	Port            *int     `yaml:"port"`
	Failures        *int     `yaml:"failures"`
	Successes       *int     `yaml:"successes"`
	MaxDownFraction *float64 `yaml:"max-down-fraction"`
}

// defaultHealth is the health section of a file that has none.
func defaultHealth() Health {
	d := health.DefaultConfig()
	return Health{
		Enabled: d.Enabled, Interval: Duration(d.Interval), Timeout: Duration(d.Timeout),
		MinDownTime: Duration(d.MinDownTime), Concurrency: d.Concurrency,
		Port: d.Rules.Port, Failures: d.Rules.FailuresToDown, Successes: d.Rules.SuccessesToUp,
		MaxDownFraction: d.Rules.MaxDownFraction,
	}
}

// HealthConfig returns the cluster-wide health settings, with the services' default rules.
func (c *Config) HealthConfig() health.Config {
	h := c.Health
	return health.Config{
		Enabled: h.Enabled, Interval: h.Interval.D(), Timeout: h.Timeout.D(), MinDownTime: h.MinDownTime.D(),
		Concurrency: h.Concurrency, Rules: h.rules(),
	}
}

// rules returns the default per-service rules of the health section.
func (h Health) rules() health.Rules {
	return health.Rules{Enabled: h.Enabled, Port: h.Port, FailuresToDown: h.Failures, SuccessesToUp: h.Successes,
		MaxDownFraction: h.MaxDownFraction}
}

// HealthRules returns the effective rules of service i: its overrides over the health section's.
// With health.enabled false no service is probed, whatever it says.
func (c *Config) HealthRules(i int) health.Rules {
	r := c.Services[i].Health.Apply(c.Health.rules())
	r.Enabled = r.Enabled && c.Health.Enabled
	return r
}

// Apply returns r with the keys set in s replacing r's.
func (s ServiceHealth) Apply(r health.Rules) health.Rules {
	if s.Enabled != nil {
		r.Enabled = *s.Enabled
	}
	if s.Port != nil {
		r.Port = *s.Port
	}
	if s.Failures != nil {
		r.FailuresToDown = *s.Failures
	}
	if s.Successes != nil {
		r.SuccessesToUp = *s.Successes
	}
	if s.MaxDownFraction != nil {
		r.MaxDownFraction = *s.MaxDownFraction
	}
	return r
}

// IsZero reports whether s overrides nothing.
func (s ServiceHealth) IsZero() bool {
	return s.Enabled == nil && s.Port == nil && s.Failures == nil && s.Successes == nil && s.MaxDownFraction == nil
}

// validateHealth reports the health settings that cannot work, naming their keys.
func (c *Config) validateHealth(bad func(format string, a ...any)) {
	if err := c.HealthConfig().Validate(); err != nil {
		bad("%v", err)
	}
	if s := c.Health.Socks; s != "" {
		if _, _, err := net.SplitHostPort(s); err != nil {
			bad("health.socks %q: want host:port of a SocksPort with ExtendedErrors: %v", s, err)
		}
	}
	for i, s := range c.Services {
		if err := CheckServiceHealth(s.Health, fmt.Sprintf("services[%d].health.", i)); err != nil {
			bad("%v", err)
		}
	}
}

// CheckServiceHealth reports the overrides of one service that cannot work; prefix names the
// service's health key ("services[1].health.").
func CheckServiceHealth(s ServiceHealth, prefix string) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Port != nil && (*s.Port < 1 || *s.Port > 65535) {
		bad("%sport %d: must be 1 to 65535", prefix, *s.Port)
	}
	if s.Failures != nil && *s.Failures < 1 {
		bad("%sfailures %d: must be at least 1", prefix, *s.Failures)
	}
	if s.Successes != nil && *s.Successes < 1 {
		bad("%ssuccesses %d: must be at least 1", prefix, *s.Successes)
	}
	if f := s.MaxDownFraction; f != nil && !(*f >= 0 && *f < 1) {
		bad("%smax-down-fraction %v: must be at least 0 and below 1", prefix, *f)
	}
	return errors.Join(errs...)
}
