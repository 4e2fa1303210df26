package testnet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseTorVersion(t *testing.T) {
	cases := []struct {
		in   string
		want TorVersion
	}{
		{"Tor version 0.4.9.11.\nThis build of Tor is covered by the GNU General Public License", TorVersion{0, 4, 9, 11}},
		{"Tor version 0.4.8.10 (git-5f7ba8d3f1c8a1f0).", TorVersion{0, 4, 8, 10}},
		{"Tor version 0.4.4.1-alpha.", TorVersion{0, 4, 4, 1}},
	}
	for _, c := range cases {
		got, err := ParseTorVersion(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTorVersion(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "Tor 0.4.9", "Tor version 0.4.x.1"} {
		if v, err := ParseTorVersion(bad); err == nil {
			t.Errorf("ParseTorVersion(%q) = %v, want an error", bad, v)
		}
	}
}

func TestTorVersionLess(t *testing.T) {
	cases := []struct {
		a, b TorVersion
		less bool
	}{
		{TorVersion{0, 4, 4, 0}, MinTorVersion, true},
		{TorVersion{0, 4, 3, 99}, MinTorVersion, true},
		{MinTorVersion, MinTorVersion, false},
		{TorVersion{0, 4, 9, 11}, MinTorVersion, false},
		{TorVersion{1, 0, 0, 0}, MinTorVersion, false},
	}
	for _, c := range cases {
		if got := c.a.Less(c.b); got != c.less {
			t.Errorf("%v.Less(%v) = %v, want %v", c.a, c.b, got, c.less)
		}
	}
}

// fakeTor writes an executable script that prints version like tor --version.
func fakeTor(t *testing.T, version string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tor")
	script := "#!/bin/sh\necho 'Tor version " + version + ".'\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFindBinariesErrors(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "no-such-tor")
	if _, err := FindBinaries(ctx, missing, ""); !errors.Is(err, ErrTorMissing) {
		t.Errorf("missing tor: err = %v, want ErrTorMissing", err)
	}
	old := fakeTor(t, "0.4.3.7")
	gencert := fakeTor(t, "0.0.0.0") // any executable will do
	if _, err := FindBinaries(ctx, old, missing); !errors.Is(err, ErrTorMissing) {
		t.Errorf("missing tor-gencert: err = %v, want ErrTorMissing", err)
	}
	if _, err := FindBinaries(ctx, old, gencert); !errors.Is(err, ErrTorTooOld) {
		t.Errorf("tor 0.4.3.7: err = %v, want ErrTorTooOld", err)
	}
	b, err := FindBinaries(ctx, fakeTor(t, "0.4.4.1"), gencert)
	if err != nil || b.Version != MinTorVersion || b.Tor == "" || b.TorGencert != gencert {
		t.Errorf("tor 0.4.4.1: %+v, %v; want version %v", b, err, MinTorVersion)
	}
}
