package store

import (
	"testing"

	"github.com/obcluster/obcluster/store/record"
)

func TestKeysLayout(t *testing.T) {
	k, err := NewKeys("/ob")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{k.Config(), "/ob/config"},
		{k.ServiceKey("svc"), "/ob/services/svc/key"},
		{k.Instance("svc", "inst"), "/ob/services/svc/instances/inst"},
		{k.Published("svc", "ab01"), "/ob/services/svc/published/ab01"},
		{k.Election(), "/ob/election"},
		{k.Node("n1"), "/ob/nodes/n1"},
		{k.StepDown("n1"), "/ob/step-down/n1"},
		{k.Published("svc", record.BlindedKeyHex([]byte{0xab, 1})), "/ob/services/svc/published/ab01"},
		{k.All(), "/ob/"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestKeysParse(t *testing.T) {
	k, _ := NewKeys("/ob")
	if svc, inst, ok := k.ParseInstance(k.Instance("s1", "i1")); !ok || svc != "s1" || inst != "i1" {
		t.Errorf("ParseInstance = %q %q %v", svc, inst, ok)
	}
	if svc, slot, ok := k.ParsePublished(k.Published("s1", "ff")); !ok || svc != "s1" || slot != "ff" {
		t.Errorf("ParsePublished = %q %q %v", svc, slot, ok)
	}
	for _, bad := range []string{
		"/ob/services/s1/key",
		"/ob/services/s1/instances/",
		"/ob/services//instances/i",
		"/other/services/s1/instances/i1",
		"/ob/services/s1/instances/i1/extra",
		k.Published("s1", "ff"),
	} {
		if _, _, ok := k.ParseInstance(bad); ok {
			t.Errorf("ParseInstance(%q) accepted", bad)
		}
	}
}

func TestNewKeysRejects(t *testing.T) {
	for _, p := range []string{"", "ob", "/ob/", "/", "//ob", "/a//b"} {
		if _, err := NewKeys(p); err == nil {
			t.Errorf("NewKeys(%q) accepted", p)
		}
	}
}
