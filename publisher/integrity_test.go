package publisher

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/publisher/publishertest"
	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

// etcdState is the publisher's Records over a real etcd, unfenced (the fence is the cluster's business;
// here it is the content of the records that matters).
type etcdState struct{ st *store.Store }

func (s etcdState) Instances(ctx context.Context, svc string) ([]record.Instance, error) {
	return s.st.Instances(ctx, svc)
}

func (s etcdState) PublishedAll(ctx context.Context, svc string) (map[string]record.Publish, error) {
	return s.st.PublishedAll(ctx, svc)
}

func (s etcdState) PutInstance(ctx context.Context, _ int64, svc string, rec record.Instance) error {
	op, err := s.st.PutInstanceOp(svc, rec)
	if err != nil {
		return err
	}
	return s.st.Commit(ctx, op)
}

func (s etcdState) PutPublished(ctx context.Context, _ int64, svc, slot string, rec record.Publish) error {
	op, err := s.st.PutPublishedOp(svc, slot, rec)
	if err != nil {
		return err
	}
	return s.st.Commit(ctx, op)
}

func (s etcdState) RecordKeys(ctx context.Context) (map[string]record.ServiceKeys, error) {
	return s.st.RecordKeys(ctx)
}

func (s etcdState) DeleteRecords(ctx context.Context, _ int64, svc string, insts, slots []string) error {
	ops, err := s.st.DeleteRecordsOps(svc, insts, slots)
	if err != nil {
		return err
	}
	return s.st.Commit(ctx, ops...)
}

// managerWith is the harness's manager over other Records.
func (h *harness) managerWith(state Records) *Manager {
	h.t.Helper()
	cfg := DefaultConfig()
	cfg.Clock = nowClock{now: func() time.Time { return h.now }}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{h.t}})
	cfg.Node = "test"
	sc := ServiceConfig{Key: h.master, IntroPointsPerBackend: 2}
	for _, b := range h.bes {
		sc.Backends = append(sc.Backends, BackendConfig{Address: b.Key.Address()})
	}
	cfg.Services = []ServiceConfig{sc}
	m, err := New(cfg, h.tor, state, h.lead)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// TestLeaderPublishesOnlyIntroPointsBackendsSigned: someone with write access to etcd but without any
// backend's key rewrites the instance records a new leader starts from. The leader must never publish
// an intro point that a configured backend did not sign.
func TestLeaderPublishesOnlyIntroPointsBackendsSigned(t *testing.T) {
	h := newHarness(t, 3, 10)
	ctx := context.Background()
	keys, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	cli := storetest.NewClient(t, storetest.Single(t)...)
	state := etcdState{st: store.New(cli, keys, nil, 5*time.Second)}
	h.m = h.managerWith(state)
	h.lead.Set(true, 7)
	h.run()
	h.advance(3 * time.Second)
	if p := h.tor.TakePosts(); len(p) != 2 {
		t.Fatalf("first leader: %d uploads, want 2", len(p))
	}
	h.lead.Set(false, 7)
	h.run()

	// The attacker's own onion service and its (validly self-signed) descriptor.
	atk := publishertest.NewBackend(t, 3, h.now)
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		t.Fatal(err)
	}
	slot := cons.ClientTimePeriod()
	atkDesc := atk.Descriptor(t, slot, h.now)
	d, err := hsv3.Decode(atkDesc, atk.Key.PublicKey(), slot.Period, slot.PeriodLength, hsv3.DecodeOptions{Now: h.now})
	if err != nil {
		t.Fatal(err)
	}
	atkRec := recordFromDescriptor(atk.Key.Address(), "evil", d, "", h.now)
	atkIntros, err := json.Marshal(atkRec.IntroPoints)
	if err != nil {
		t.Fatal(err)
	}

	svc := h.master.Address()
	rewrite := func(inst string, change func(map[string]any)) {
		t.Helper()
		key := keys.Instance(svc, inst)
		resp, err := cli.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get %s: %v", key, err)
		}
		var rec map[string]any
		if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
			t.Fatal(err)
		}
		change(rec)
		b, _ := json.Marshal(rec)
		if _, err := cli.Put(ctx, key, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	var rawIntros any
	_ = json.Unmarshal(atkIntros, &rawIntros)
	// Backend 1: everything replaced by the attacker's descriptor and intro points.
	rewrite(h.bes[1].Key.Address(), func(r map[string]any) {
		r["intro_points"] = rawIntros
		r["received_at"] = h.now
		if _, ok := r["descriptor"]; ok {
			r["descriptor"] = string(atkDesc)
		}
	})
	// Backend 2: only the intro points altered; its own descriptor is left in place.
	rewrite(h.bes[2].Key.Address(), func(r map[string]any) {
		r["intro_points"] = rawIntros
		r["received_at"] = h.now
	})
	// A record for a backend the config does not list.
	if err := state.PutInstance(ctx, 0, svc, atkRec); err != nil {
		t.Fatal(err)
	}
	rewrite(atk.Key.Address(), func(r map[string]any) {
		r["descriptor"], r["period_num"], r["period_length"] = string(atkDesc), slot.Period, slot.PeriodLength
	})

	// Records that do not decode at all must not hide the good ones.
	if _, err := cli.Put(ctx, keys.Instance(svc, "garbage"), "{"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, keys.Published(svc, "garbage"), "{"); err != nil {
		t.Fatal(err)
	}

	// A new leader that cannot fetch anything starts from the records.
	for _, b := range h.bes {
		h.tor.SetDown(b.Key.Address(), true)
	}
	h.m = h.managerWith(state)
	h.lead.Set(true, 9)
	h.run()
	h.advance(3 * time.Second)
	posts := h.tor.TakePosts()
	if len(posts) == 0 {
		t.Fatal("the new leader published nothing from the genuine records")
	}
	// decodePosts fails on any intro point that is not one of the configured backends' own.
	for hsdir, got := range h.decodePosts(posts) {
		if got[h.bes[1].Key.Address()] != 0 || got[h.bes[0].Key.Address()] != 2 || got[h.bes[2].Key.Address()] != 2 {
			t.Errorf("HSDir %s: intro points per backend %v, want 2 of backends 0 and 2 only", hsdir, got)
		}
	}
}

func TestVerifyRecord(t *testing.T) {
	h := newHarness(t, 2, 5)
	cons, err := hashring.ParseConsensus(h.net.Consensus)
	if err != nil {
		t.Fatal(err)
	}
	slot := cons.ClientTimePeriod()
	be, other := h.bes[0], h.bes[1]
	b := &Backend{Address: be.Key.Address(), Name: "a", Identity: be.Key.PublicKey()}
	recordOf := func(tb *publishertest.Backend) record.Instance {
		raw := tb.Descriptor(t, slot, h.now)
		d, err := hsv3.Decode(raw, tb.Key.PublicKey(), slot.Period, slot.PeriodLength, hsv3.DecodeOptions{Now: h.now})
		if err != nil {
			t.Fatal(err)
		}
		r := recordFromDescriptor(b.Address, "stored name", d, "HSDIR", h.now.Add(-time.Minute))
		r.Descriptor, r.Epoch, r.Key = string(raw), 3, "/k"
		return r
	}
	good := recordOf(be)
	v, err := verifyRecord(b, good, h.now)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIntroPoints(v.IntroPoints, good.IntroPoints) || len(v.IntroPoints) != 3 || v.Name != "a" ||
		v.Epoch != 3 || v.Key != "/k" || !v.ReceivedAt.Equal(h.now.Add(-time.Minute)) {
		t.Errorf("verified record = %+v", v)
	}
	future := good
	future.ReceivedAt = h.now.Add(time.Hour)
	if v, err := verifyRecord(b, future, h.now); err != nil || !v.ReceivedAt.Equal(h.now) {
		t.Errorf("received_at in the future: %v, %v; want clamped to now", v.ReceivedAt, err)
	}
	// revision_since: kept as stored within what the descriptor allows, never later than received_at
	// (itself never later than now) nor earlier than a descriptor lifetime (180 minutes) before it;
	// missing (an older record), it is received_at.
	recv := h.now.Add(-time.Minute)
	for stored, want := range map[time.Time]time.Time{
		{}:                           recv,
		recv.Add(-100 * time.Minute): recv.Add(-100 * time.Minute),
		recv.Add(time.Minute):        recv,
		recv.Add(-10 * time.Hour):    recv.Add(-180 * time.Minute),
		h.now.Add(24 * time.Hour):    recv,
		recv.Add(-180 * time.Minute): recv.Add(-180 * time.Minute),
	} {
		r := good
		r.RevisionSince = stored
		if v, err := verifyRecord(b, r, h.now); err != nil || !v.RevisionSince.Equal(want) {
			t.Errorf("stored revision_since %s: %s, %v; want %s", stored, v.RevisionSince, err, want)
		}
	}
	if v, err := verifyRecord(b, future, h.now); err != nil || !v.RevisionSince.Equal(h.now) {
		t.Errorf("received_at in the future without revision_since: revision since %s, %v; want now", v.RevisionSince, err)
	}
	for name, r := range map[string]record.Instance{
		"no descriptor":   func() record.Instance { r := good; r.Descriptor = ""; return r }(),
		"other period":    func() record.Instance { r := good; r.PeriodNum++; return r }(),
		"other address":   func() record.Instance { r := good; r.Address = other.Key.Address(); return r }(),
		"other backend's": recordOf(other),
		"truncated":       func() record.Instance { r := good; r.Descriptor = r.Descriptor[:len(r.Descriptor)/2]; return r }(),
		"certs expired":   good, // checked at a later time below
	} {
		now := h.now
		if name == "certs expired" {
			now = h.now.Add(30 * 24 * time.Hour)
		}
		if _, err := verifyRecord(b, r, now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
