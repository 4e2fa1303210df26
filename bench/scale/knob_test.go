package scale

import "github.com/obcluster/obcluster/publisher"

// setConcurrency sets the publisher's concurrency bound; 0 keeps the default.
func setConcurrency(cfg *publisher.Config, n int) {
	if n > 0 {
		cfg.Concurrency = n
	}
}
