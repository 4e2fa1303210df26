package config

import (
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/publisher/health"
)

func TestHealthDefaults(t *testing.T) {
	c, err := Parse([]byte(pythonConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.HealthConfig(), health.DefaultConfig(); got != want {
		t.Errorf("health config of a file without a health section = %+v, want %+v", got, want)
	}
	if got, want := c.HealthRules(0), health.DefaultRules(); got != want {
		t.Errorf("rules of services[0] = %+v, want %+v", got, want)
	}
	if c.Health.Socks != "" {
		t.Errorf("health.socks defaults to %q, want empty (find or open one)", c.Health.Socks)
	}
	if got, want := Default().HealthConfig(), health.DefaultConfig(); got != want {
		t.Errorf("Default().HealthConfig() = %+v, want %+v", got, want)
	}
}

func TestHealthEveryKey(t *testing.T) {
	text := pythonConfig + `health:
  enabled: true
  interval: 10s
  timeout: 20
  min-down-time: 45s
  concurrency: 3
  socks: 127.0.0.1:9050
  port: 443
  failures: 4
  successes: 1
  max-down-fraction: 0
`
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(true); err != nil {
		t.Fatal(err)
	}
	want := health.Config{Enabled: true, Interval: 10 * time.Second, Timeout: 20 * time.Second,
		MinDownTime: 45 * time.Second, Concurrency: 3,
		Rules: health.Rules{Enabled: true, Port: 443, FailuresToDown: 4, SuccessesToUp: 1, MaxDownFraction: 0}}
	if got := c.HealthConfig(); got != want {
		t.Errorf("health config = %+v\nwant %+v", got, want)
	}
	if c.Health.Socks != "127.0.0.1:9050" {
		t.Errorf("health.socks = %q", c.Health.Socks)
	}
	// An explicit 0 is kept (no removal on probe evidence), not replaced by the default.
	if got := c.HealthRules(0).MaxDownFraction; got != 0 {
		t.Errorf("max-down-fraction 0 became %v", got)
	}
}

func TestHealthOff(t *testing.T) {
	c, err := Parse([]byte(pythonConfig + "health: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HealthConfig().Enabled {
		t.Error("health: {enabled: false} left probing on")
	}
	if c.HealthConfig().Interval != 30*time.Second {
		t.Errorf("the other health keys lost their defaults: %+v", c.HealthConfig())
	}
	if err := c.Validate(true); err != nil {
		t.Fatal(err)
	}
}

func TestServiceHealthOverride(t *testing.T) {
	text := `health:
  failures: 5
services:
  - key: a.key
    instances: [{address: a}]
  - key: b.key
    instances: [{address: b}]
    health: {enabled: false, port: 8080, successes: 3, max-down-fraction: 0.25}
  - key: c.key
    instances: [{address: c}]
    health:
      failures: 2
`
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(true); err != nil {
		t.Fatal(err)
	}
	def := health.DefaultRules()
	def.FailuresToDown = 5
	if got := c.HealthRules(0); got != def {
		t.Errorf("services[0] rules = %+v, want the file's %+v", got, def)
	}
	want1 := health.Rules{Enabled: false, Port: 8080, FailuresToDown: 5, SuccessesToUp: 3, MaxDownFraction: 0.25}
	if got := c.HealthRules(1); got != want1 {
		t.Errorf("services[1] rules = %+v, want %+v", got, want1)
	}
	want2 := def
	want2.FailuresToDown = 2
	if got := c.HealthRules(2); got != want2 {
		t.Errorf("services[2] rules = %+v, want %+v", got, want2)
	}
}

func TestHealthValidationNamesTheKey(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"health: {interval: 0s}\n", "health.interval"},
		{"health: {timeout: 0s}\n", "health.timeout"},
		{"health: {concurrency: 0}\n", "health.concurrency"},
		{"health: {port: 70000}\n", "health.port"},
		{"health: {failures: 0}\n", "health.failures"},
		{"health: {successes: 0}\n", "health.successes"},
		{"health: {max-down-fraction: 1}\n", "health.max-down-fraction"},
		{"health: {socks: nonsense}\n", "health.socks"},
		{"services:\n  - key: a.key\n    instances: [{address: a}]\n  - key: b.key\n    instances: [{address: b}]\n    health: {port: 0}\n", "services[1].health.port"},
		{"services:\n  - key: a.key\n    instances: [{address: a}]\n    health: {failures: -1}\n", "services[0].health.failures"},
		{"services:\n  - key: a.key\n    instances: [{address: a}]\n    health: {successes: 0}\n", "services[0].health.successes"},
		{"services:\n  - key: a.key\n    instances: [{address: a}]\n    health: {max-down-fraction: 1.5}\n", "services[0].health.max-down-fraction"},
	} {
		text := tc.text
		if !strings.Contains(text, "services:") {
			text = pythonConfig + text
		}
		c, err := Parse([]byte(text))
		if err != nil {
			t.Errorf("%q: parse: %v", tc.text, err)
			continue
		}
		err = c.Validate(true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.text, err, tc.want)
		}
	}
	if _, err := Parse([]byte(pythonConfig + "health: {intervall: 3s}\n")); err == nil || !strings.Contains(err.Error(), `"intervall"`) {
		t.Errorf("unknown health key: %v", err)
	}
	if _, err := Parse([]byte(pythonConfig + "health: {interval: soon}\n")); err == nil || !strings.Contains(err.Error(), "health.interval") {
		t.Errorf("bad duration: %v", err)
	}
}
