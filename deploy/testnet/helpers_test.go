package testnet

import (
	"os"
	"path/filepath"
	"testing"
)

// vectorsDir finds the shared tor test vectors: $OB_TOR_VECTORS, or a
// "shared/tor-vectors" next to the repository root found by walking up from
// the package directory. It skips t when they are absent.
func vectorsDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("OB_TOR_VECTORS"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(filepath.Dir(dir), "shared", "tor-vectors")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(candidate); err == nil {
				return candidate
			}
			break
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Skip("tor test vectors not found: set OB_TOR_VECTORS or place shared/tor-vectors next to the repository")
	return ""
}
