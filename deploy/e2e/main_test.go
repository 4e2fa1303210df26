// Package e2e holds the end-to-end tests. They share one private Tor network
// per test binary (deploy/testnet) and run by default when tor is installed;
// without tor they skip, unless OB_E2E=1 makes that a failure.
package e2e

import (
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/deploy/testnet"
)

var shared = testnet.NewShared(testnet.Options{
	Logger: hclog.New(&hclog.LoggerOptions{Name: "testnet", Level: hclog.Info, Output: os.Stderr}),
})

func TestMain(m *testing.M) {
	os.Exit(shared.Main(m))
}
