package obhost

import (
	"testing"
	"time"

	"github.com/obcluster/obcluster/cluster"
	"github.com/obcluster/obcluster/obhost/config"
)

// The heartbeat runs with the cluster package's defaults (it was hard-coded in the wiring), and the
// file's node name and session TTL reach the election and the heartbeat.
func TestConfigAppliesTheFileOverThePackageDefaults(t *testing.T) {
	cfg := DefaultConfig()
	cfg.File.Cluster.NodeName = "obhost7"
	cfg.File.Cluster.SessionTTL = config.Duration(20 * time.Second)
	cfg.File.Cluster.Etcd.Endpoints = []string{"http://127.0.0.1:2379"} // a cluster node: services from etcd
	cfg.Version = "v1.2.3"
	if err := cfg.Validate(); err == nil {
		t.Fatal("a config without tor control addresses validated")
	}
	cfg.TorControls = []string{"tcp:127.0.0.1:9051"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, want := cfg.node(), cluster.DefaultNodeConfig("obhost7", "v1.2.3")
	if n.Name != want.Name || n.Version != want.Version || n.Interval != want.Interval || n.TTL != want.TTL {
		t.Errorf("heartbeat %+v, want %+v", n, want)
	}
	if e := cfg.election(); e.Name != "obhost7" || e.TTL != 20*time.Second || e.RetryMax != cluster.DefaultConfig("").RetryMax {
		t.Errorf("election %+v", e)
	}
	if p := cfg.publisher(nil); p.FetchInterval != cfg.File.Publish.FetchInterval.D() || p.Node != "obhost7" {
		t.Errorf("publisher %+v", p)
	}
}
