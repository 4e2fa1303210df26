package config

import (
	"testing"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
)

// The file's defaults are the packages' defaults: an obhost run from a file that sets nothing
// behaves as the parts do with their DefaultConfig.
func TestDefaultsComeFromThePackages(t *testing.T) {
	c := Default()
	pub, el, etcd := publisher.DefaultConfig(), cluster.DefaultConfig("n"), store.DefaultClientConfig()
	for _, d := range []struct {
		key       string
		got, want any
	}{
		{"cluster.session-ttl", c.Cluster.SessionTTL.D(), el.TTL},
		{"cluster.etcd.request-timeout", c.Cluster.Etcd.RequestTimeout.D(), etcd.RequestTimeout},
		{"cluster.etcd.prefix", c.Cluster.Etcd.Prefix, store.DefaultPrefix},
		{"publish.fetch-interval", c.Publish.FetchInterval.D(), pub.FetchInterval},
		{"publish.refresh-interval", c.Publish.RefreshInterval.D(), pub.Timing.Refresh},
		{"publish.backend-timeout", c.Publish.BackendTimeout.D(), pub.Liveness.Timeout},
		{"publish.max-backends", c.Publish.MaxBackends, pub.MaxBackends},
		{"publish.concurrency", c.Publish.Concurrency, pub.Concurrency},
		{"publish.intro-points-per-backend", c.Publish.IntroPointsPerBackend, publisher.DefaultIntroPointsPerBackend},
	} {
		if d.got != d.want {
			t.Errorf("%s defaults to %v, its package to %v", d.key, d.got, d.want)
		}
	}
}
