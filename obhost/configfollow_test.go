package obhost

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/obhost/obhosttest"
	"github.com/obcluster/obcluster/publisher"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

func TestNodeFollowsClusterConfig(t *testing.T) {
	f := obhosttest.NewCluster(t, 2)
	if err := push(t, f, PushInit, false); err != nil {
		t.Fatalf("init: %v", err)
	}
	cli := storetest.NewClient(t, f.Endpoints...)
	kek, err := store.LoadKEKFile(f.KEKFile)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := store.NewSealer(kek)
	es := newEtcdServices(store.New(cli, obhosttest.DefaultKeys(t), sealer, time.Second), hclog.NewNullLogger(), time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	services, err := es.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 1 || services[0].Key.Address() != f.Master.Address() || len(services[0].Backends) != 2 {
		t.Fatalf("loaded services %+v", services)
	}

	pcfg := publisher.DefaultConfig()
	pcfg.Services = services
	m, err := publisher.New(pcfg, fakeTor{}, emptyState{}, follower{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { m.Run(ctx, nil); done <- struct{}{} }()
	errs := make(chan error, 10)
	go func() {
		es.follow(ctx, cli, time.Second, m, func(err error) { errs <- err })
		done <- struct{}{}
	}()
	defer func() { cancel(); <-done; <-done }()

	backends := func() []string {
		var out []string
		for _, s := range m.Status().Services {
			for _, b := range s.Backends {
				out = append(out, strings.TrimSuffix(b.Address, ".onion"))
			}
		}
		return out
	}
	third := obhosttest.OnionAddress(t)
	f.WriteConfig(t, []string{f.Backends[0], third}, true)
	if err := push(t, f, PushSet, false); err != nil {
		t.Fatalf("set-config: %v", err)
	}
	obhosttest.WaitFor(t, "the new backend set applied", 10*time.Second, func() bool {
		got := backends()
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
	if got := backends(); len(got) != 2 || got[1] != third {
		t.Errorf("backends after a bad config: %v", got)
	}
}
