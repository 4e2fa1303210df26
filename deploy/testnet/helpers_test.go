package testnet

import (
	"testing"

	"github.com/obcluster/obcluster/internal/torvectors"
)

// vectorsDir returns the vectors folder; it skips t when there is none, or fails it under CI.
func vectorsDir(t *testing.T) string {
	t.Helper()
	return torvectors.Dir(t)
}
