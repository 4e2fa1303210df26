package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/store"
)

// MinTTL is the shortest session TTL accepted. etcd's own floor is lower,
// but shorter TTLs turn every GC pause or slow disk into a failover.
const MinTTL = 5 * time.Second

// CheckTTL reports whether ttl can be a session TTL: at least MinTTL and a
// whole number of seconds (etcd lease TTLs are seconds). The config file's
// cluster.session-ttl is checked with it too, so that the two never disagree.
func CheckTTL(ttl time.Duration) error {
	if ttl < MinTTL {
		return fmt.Errorf("%v is below the minimum %v", ttl, MinTTL)
	}
	if ttl%time.Second != 0 {
		return fmt.Errorf("%v is not a whole number of seconds", ttl)
	}
	return nil
}

// Config configures an Election.
type Config struct {
	// Name identifies this node; it is the value of its election key.
	Name string
	// TTL is the lease TTL of the election session: a leader that stops
	// refreshing its lease is replaced after about this long.
	TTL time.Duration
	// Margin is subtracted from the lease deadline for self-fencing: the
	// leader refuses to publish after sent + TTL - Margin, where sent is
	// when the last keepalive etcd answered was sent (a lower bound of when
	// etcd renewed the lease, however late the answer). It must cover
	// clock-rate differences and the time between the last check and the
	// write of the HSPOST.
	Margin time.Duration
	// RequestTimeout bounds every single etcd request. Zero means TTL/3.
	RequestTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed terms.
	RetryMin, RetryMax time.Duration
	// Logger receives the election's log lines; nil discards them.
	Logger hclog.Logger
	// Clock tells the time and times the retries; nil means clock.Real{}.
	// Self-fencing deadlines are computed with it, and MayPublish's
	// deadline bounds contexts: anything but the real clock is for tests.
	Clock clock.Clock
}

// DefaultConfig returns the default configuration for the node name.
func DefaultConfig(name string) Config {
	return Config{
		Name:     name,
		TTL:      10 * time.Second,
		Margin:   2 * time.Second,
		RetryMin: 500 * time.Millisecond,
		RetryMax: 5 * time.Second,
	}
}

// Validate reports the first field of c that cannot work.
func (c Config) Validate() error {
	if err := store.CheckName(c.Name); err != nil {
		return fmt.Errorf("cluster: node name: %w", err)
	}
	if err := CheckTTL(c.TTL); err != nil {
		return fmt.Errorf("cluster: ttl: %w", err)
	}
	if c.Margin < 0 || c.Margin > c.TTL/2 {
		return fmt.Errorf("cluster: margin %v must be between 0 and ttl/2 (%v)", c.Margin, c.TTL/2)
	}
	if c.RequestTimeout < 0 || c.RequestTimeout >= c.TTL {
		return fmt.Errorf("cluster: request-timeout %v must be between 0 and ttl %v", c.RequestTimeout, c.TTL)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		return errors.New("cluster: retry bounds must satisfy 0 < retry-min <= retry-max")
	}
	return nil
}

func (c Config) requestTimeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return c.TTL / 3
}

func (c Config) clock() clock.Clock { return clock.Or(c.Clock) }

func (c Config) logger() hclog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return hclog.NewNullLogger()
}
