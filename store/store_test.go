package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/record"
	"github.com/obcluster/obcluster/store/storetest"
)

func newStore(t *testing.T) (*store.Store, *clientv3.Client) {
	t.Helper()
	cli := storetest.NewClient(t, storetest.Single(t)...)
	keys, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := store.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := store.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	return store.New(cli, keys, sealer, 5*time.Second), cli
}

var t0 = time.Date(2026, 11, 22, 10, 30, 0, 123456789, time.UTC)

func TestInstanceRecordRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	rec := record.Instance{
		Address: "backendaddr",
		Name:    "srv1",
		IntroPoints: []record.IntroPoint{{
			LinkSpecifiers:    []byte{2, 0, 6, 127, 0, 0, 1, 0x23, 0x28},
			OnionKey:          []byte("onion-key-32-bytes-onion-key-32b"),
			AuthKey:           []byte("auth-key-32-bytes-auth-key-32byt"),
			AuthKeyExpires:    t0.Add(3 * time.Hour),
			EncKey:            []byte("enc-key-32-bytes-enc-key-32bytes"),
			EncKeyCertKey:     []byte("enc-cert-key-32-bytes-enc-cert-k"),
			EncKeyCertExpires: t0.Add(4 * time.Hour),
		}},
		ReceivedAt:         t0,
		DescriptorRevision: 987654321,
		HSDir:              "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333",
		FlowControl:        "1-2 31",
		Epoch:              42,
		Node:               "node-a",
	}
	op, err := s.PutInstanceOp("svcaddr", rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, "svcaddr", "backendaddr")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, rec)
	}
	all, err := s.Instances(ctx, "svcaddr")
	if err != nil || len(all) != 1 || all[0].Address != "backendaddr" {
		t.Fatalf("Instances = %+v, %v", all, err)
	}
	if err := s.Commit(ctx, s.DeleteInstanceOp("svcaddr", "backendaddr")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Instance(ctx, "svcaddr", "backendaddr"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted instance: %v, want ErrNotFound", err)
	}
}

func TestInstanceRecordIsReadableJSON(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	op, err := s.PutInstanceOp("svc", record.Instance{Address: "inst", ReceivedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "/onionbalance/services/svc/instances/inst")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v %v", resp, err)
	}
	if v := string(resp.Kvs[0].Value); !strings.Contains(v, `"received_at": "2026-11-22T10:30:00.123456789Z"`) {
		t.Fatalf("stored value is not the expected JSON:\n%s", v)
	}
}

func TestPublishRecordRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	blinded := []byte("blinded-key-32-bytes-blinded-key")
	slot := record.BlindedKeyHex(blinded)
	rec := record.Publish{
		PeriodNum:       20412,
		PeriodLength:    1440,
		BlindedKey:      blinded,
		RevisionCounter: 1234567,
		UploadedAt:      t0,
		HSDirs: map[string]record.UploadResult{
			"FP1": {Status: record.UploadUploaded, At: t0.Add(time.Second)},
			"FP2": {Status: record.UploadFailed, Reason: "UPLOAD_REJECTED", At: t0.Add(2 * time.Second)},
		},
		Epoch:       7,
		Node:        "node-b",
		IntroPoints: map[string]string{"aXA=": "backend1"},
	}
	op, err := s.PutPublishedOp("svc", slot, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	got, err := s.Published(ctx, "svc", slot)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, rec)
	}
	all, err := s.PublishedAll(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || !reflect.DeepEqual(all[slot], rec) {
		t.Fatalf("PublishedAll = %+v", all)
	}
	if _, err := s.PutPublishedOp("svc", "a/b", rec); err == nil {
		t.Fatal("slot with / accepted")
	}
}

func TestNodeRecordRoundTripAndLease(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	rec := record.Node{
		Name: "node-a", Version: "0.1.0", TorBootstrap: 100, TorState: "done",
		Role: record.RoleLeader, Epoch: 9, LastError: "none yet", StartedAt: t0, Heartbeat: t0.Add(time.Minute),
	}
	op, err := s.PutNodeOp(rec, lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, op); err != nil {
		t.Fatal(err)
	}
	got, err := s.Node(ctx, "node-a")
	if err != nil || !reflect.DeepEqual(got, rec) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 0 {
		t.Fatalf("nodes after lease revoke: %+v, %v", nodes, err)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := s.Config(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("empty config: %v", err)
	}
	if err := s.PutConfig(ctx, []byte("services: []\n")); err != nil {
		t.Fatal(err)
	}
	b, rev, err := s.Config(ctx)
	if err != nil || string(b) != "services: []\n" || rev == 0 {
		t.Fatalf("Config = %q, %d, %v", b, rev, err)
	}
}

func TestServiceKeySealedInEtcd(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	master := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err := s.PutServiceKey(ctx, "svc", master); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "/onionbalance/services/svc/key")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v", err)
	}
	if raw := resp.Kvs[0].Value; strings.Contains(string(raw), string(master)) || !strings.HasPrefix(string(raw), "obseal:v1:") {
		t.Fatalf("master key not sealed in etcd: %q", raw)
	}
	got, err := s.ServiceKey(ctx, "svc")
	if err != nil || string(got) != string(master) {
		t.Fatalf("ServiceKey = %q, %v", got, err)
	}
	// Moving the sealed value to another service's key must not open.
	if _, err := cli.Put(ctx, "/onionbalance/services/other/key", string(resp.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServiceKey(ctx, "other"); !errors.Is(err, store.ErrSealBroken) {
		t.Fatalf("moved sealed key: %v, want ErrSealBroken", err)
	}
}

func TestResealRotatesKEK(t *testing.T) {
	cli := storetest.NewClient(t, storetest.Single(t)...)
	ctx := context.Background()
	keys, _ := store.NewKeys("/ob")
	oldKEK, _ := store.GenerateKEK()
	newKEK, _ := store.GenerateKEK()
	oldSealer, _ := store.NewSealer(oldKEK)
	old := store.New(cli, keys, oldSealer, 5*time.Second)
	for _, svc := range []string{"a", "b"} {
		if err := old.PutServiceKey(ctx, svc, []byte("key of "+svc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.PutConfig(ctx, []byte(`{"not":"a secret"}`)); err != nil {
		t.Fatal(err)
	}

	rotating, _ := store.NewSealer(newKEK, oldKEK)
	n, err := rotating.Reseal(ctx, cli, keys.All(), 5*time.Second)
	if err != nil || n != 2 {
		t.Fatalf("Reseal = %d, %v; want 2", n, err)
	}
	if n, err := rotating.Reseal(ctx, cli, keys.All(), 5*time.Second); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want 0", n, err)
	}
	onlyNew, _ := store.NewSealer(newKEK)
	s := store.New(cli, keys, onlyNew, 5*time.Second)
	for _, svc := range []string{"a", "b"} {
		got, err := s.ServiceKey(ctx, svc)
		if err != nil || string(got) != "key of "+svc {
			t.Fatalf("after rotation, ServiceKey(%s) = %q, %v", svc, got, err)
		}
	}
	if _, err := old.ServiceKey(ctx, "a"); !errors.Is(err, store.ErrUnknownKEK) {
		t.Fatalf("old KEK still opens after rotation: %v", err)
	}
	if b, _, err := s.Config(ctx); err != nil || string(b) != `{"not":"a secret"}` {
		t.Fatalf("Reseal touched the config: %q, %v", b, err)
	}
}

// A record someone wrote as garbage must not hide the good ones: a new leader that could read none
// would publish nothing at all.
func TestUndecodableRecordsAreSkipped(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	keys := s.Keys()
	good := record.Instance{Address: "good", Name: "n1", ReceivedAt: t0}
	op, err := s.PutInstanceOp("svc", good)
	if err != nil {
		t.Fatal(err)
	}
	pub := record.Publish{PeriodNum: 7, RevisionCounter: 42}
	pop, err := s.PutPublishedOp("svc", "aa", pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, op, pop); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, keys.Instance("svc", "bad"), "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, keys.Published("svc", "bb"), "[]"); err != nil {
		t.Fatal(err)
	}

	recs, err := s.Instances(ctx, "svc")
	if !errors.Is(err, record.ErrBad) || !strings.Contains(err.Error(), keys.Instance("svc", "bad")) {
		t.Errorf("Instances error = %v, want record.ErrBad naming the bad key", err)
	}
	if len(recs) != 1 || recs[0].Address != "good" {
		t.Errorf("Instances = %+v, want the good record only", recs)
	}
	pubs, err := s.PublishedAll(ctx, "svc")
	if !errors.Is(err, record.ErrBad) || !strings.Contains(err.Error(), keys.Published("svc", "bb")) {
		t.Errorf("PublishedAll error = %v, want record.ErrBad naming the bad key", err)
	}
	if len(pubs) != 1 || pubs["aa"].RevisionCounter != 42 {
		t.Errorf("PublishedAll = %+v, want slot aa only", pubs)
	}
}
