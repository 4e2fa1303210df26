package buildinfo

import "testing"

func TestVersionLinkTimeWins(t *testing.T) {
	if Version() == "" {
		t.Fatal("empty version")
	}
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.9.9"
	if got := Version(); got != "v9.9.9" {
		t.Fatalf("Version() = %q, want the link-time value", got)
	}
}
