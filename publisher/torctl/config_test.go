package torctl

import (
	"errors"
	"testing"
	"time"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, network, address string
	}{
		{"tcp:127.0.0.1:9051", "tcp", "127.0.0.1:9051"},
		{"127.0.0.1:9051", "tcp", "127.0.0.1:9051"},
		{"[::1]:9051", "tcp", "[::1]:9051"},
		{"localhost:9051", "tcp", "localhost:9051"},
		{"unix:/run/tor/control", "unix", "/run/tor/control"},
		{"/run/tor/control", "unix", "/run/tor/control"},
	}
	for _, tt := range tests {
		n, a, err := parseAddress(tt.in)
		if err != nil || n != tt.network || a != tt.address {
			t.Errorf("parseAddress(%q) = %q, %q, %v; want %q, %q", tt.in, n, a, err, tt.network, tt.address)
		}
	}
	for _, bad := range []string{"", "unix:relative/sock", "tcp:9051", "127.0.0.1", ":9051", "tcp:host:"} {
		if _, _, err := parseAddress(bad); err == nil {
			t.Errorf("parseAddress(%q) succeeded, want an error", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"bad address", func(c *Config) { c.Address = "nowhere" }},
		{"unknown auth", func(c *Config) { c.Auth = "kerberos" }},
		{"password auth without password", func(c *Config) { c.Auth = AuthPassword }},
		{"both password sources", func(c *Config) { c.Password, c.PasswordFile = "x", "/p" }},
		{"password with newline", func(c *Config) { c.Password = "a\r\nQUIT" }},
		{"zero backoff", func(c *Config) { c.ReconnectMin = 0 }},
		{"max below min", func(c *Config) { c.ReconnectMax = c.ReconnectMin / 2 }},
		{"zero timeout", func(c *Config) { c.RequestTimeout = 0 }},
		{"zero queue", func(c *Config) { c.EventQueue = 0 }},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.edit(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	c := DefaultConfig()
	c.Auth, c.PasswordFile, c.ReconnectMax = AuthPassword, "/etc/pw", time.Minute
	if err := c.Validate(); err != nil {
		t.Errorf("password file config: Validate() = %v", err)
	}
}
