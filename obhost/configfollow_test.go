package obhost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/obhost/obhosttest"
)

func TestNodeFollowsClusterConfig(t *testing.T) {
	f, cli, _, es := initCluster(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	services, err := es.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 1 || services[0].Key.Address() != f.Master.Address() || len(services[0].Backends) != 2 {
		t.Fatalf("loaded services %+v", services)
	}

	m, errs := followConfig(t, es, cli, services)
	third := obhosttest.OnionAddress(t)
	f.WriteConfig(t, []string{f.Backends[0], third}, true)
	if err := push(t, f, PushSet, false); err != nil {
		t.Fatalf("set-config: %v", err)
	}
	obhosttest.WaitFor(t, "the new backend set applied", 10*time.Second, func() bool {
		got := backendAddresses(m)
		return len(got) == 2 && got[0] == f.Backends[0] && got[1] == third
	})
	if err := <-errs; err != nil {
		t.Errorf("follow reported %v", err)
	}

	// A broken configuration is reported and the running one kept.
	if _, err := cli.Put(ctx, obhosttest.DefaultKeys(t).Config(), `{"version": 1, "services": []}`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "no services") {
			t.Errorf("bad config reported as %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bad config not reported")
	}
	if got := backendAddresses(m); len(got) != 2 || got[1] != third {
		t.Errorf("backends after a bad config: %v", got)
	}
}
