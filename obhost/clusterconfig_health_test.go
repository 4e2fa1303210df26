package obhost

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

// A service's health override in the config file goes into <prefix>/config with cluster init, a node
// that follows the cluster configuration applies it over its own file's health section, and the MAC
// covers it: changed in etcd without the key-encryption key, the configuration is refused.
func TestClusterConfigCarriesHealthOverride(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	text, err := os.ReadFile(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	withHealth := strings.Replace(string(text), "    instances:\n",
		"    health: {port: 8080, max-down-fraction: 0}\n    instances:\n", 1)
	if err := os.WriteFile(f.Config, []byte(withHealth), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := push(t, f, PushInit, false); err != nil {
		t.Fatalf("init: %v", err)
	}
	keys := obhosttest.DefaultKeys(t)
	stored := f.Get(t, keys.Config())
	if !strings.Contains(stored, `"port": 8080`) || !strings.Contains(stored, `"max_down_fraction": 0`) {
		t.Fatalf("the stored configuration lacks the override:\n%s", stored)
	}
	cli := storetest.NewClient(t, f.Endpoints...)
	_, sealer := f.Sealer(t)
	es := newEtcdServices(store.New(cli, keys, sealer, time.Second), hclog.NewNullLogger(), time.Second)
	defaults := health.DefaultRules()
	defaults.FailuresToDown = 7 // this node's file's health section
	es.rules = defaults
	ctx := context.Background()
	services, err := es.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := defaults
	want.Port, want.MaxDownFraction = 8080, 0
	if got := services[0].Health; got != want {
		t.Errorf("rules applied = %+v, want %+v", got, want)
	}

	if _, err := cli.Put(ctx, keys.Config(), strings.Replace(stored, `"port": 8080`, `"port": 8081`, 1)); err != nil {
		t.Fatal(err)
	}
	fresh := newEtcdServices(es.st, hclog.NewNullLogger(), es.timeout)
	if _, err := fresh.load(ctx); err == nil || !strings.Contains(err.Error(), "MAC") {
		t.Errorf("a health override changed without the key-encryption key: %v, want a MAC error", err)
	}
}

// A configuration written before health existed (no "health" field) still parses, and its services
// get the node's own rules.
func TestClusterConfigWithoutHealthParses(t *testing.T) {
	addr := obhosttest.OnionAddress(t)
	inst := obhosttest.OnionAddress(t)
	old := `{"version": 1, "services": [{"address": "` + addr + `", "intro_points_per_backend": 2,
		"instances": [{"address": "` + inst + `"}]}], "updated_at": "2026-01-01T00:00:00Z"}`
	cc, err := ParseClusterConfig([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if cc.Services[0].Health != nil {
		t.Errorf("health = %+v, want none", cc.Services[0].Health)
	}
	bad := strings.Replace(old, `"intro_points_per_backend": 2,`, `"intro_points_per_backend": 2, "health": {"failures": 0},`, 1)
	if _, err := ParseClusterConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "services[0].health.failures") {
		t.Errorf("a bad override: %v, want an error naming services[0].health.failures", err)
	}
}
