package store_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"

	"github.com/obcluster/obcluster/store"
	"github.com/obcluster/obcluster/store/storetest"
)

func infoLogger(out *strings.Builder) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: out, Level: hclog.Info})
}

// Requests the program abandons itself, routine start-up advice of the embedded server and the
// errors of a graceful stop are no news at INFO; a real etcd error still is.
func TestZapLoggerQuietForRoutineEntries(t *testing.T) {
	var out strings.Builder
	z := store.NewZapLogger(infoLogger(&out))
	z.Warn("retrying of unary invoker failed", zap.Error(context.Canceled))
	z.Warn("Running http and grpc server on single port. This is not recommended for production.")
	z.Warn("simple token is not cryptographically signed")
	z.Error("setting up serving from embedded etcd failed.", zap.Error(http.ErrServerClosed))
	if out.Len() != 0 {
		t.Errorf("routine entries logged at INFO or above:\n%s", out.String())
	}
	z.Warn("retrying of unary invoker failed", zap.Error(errors.New("rpc error: code = Unavailable desc = connection refused")))
	if !strings.Contains(out.String(), "[INFO]") || !strings.Contains(out.String(), "connection refused") {
		t.Errorf("a real etcd error is not at INFO: %q", out.String())
	}
}

// Connecting to a 3-member cluster asks every member at once and abandons the slower answers: that
// must not log anything at INFO.
func TestConnectQuietAtInfo(t *testing.T) {
	c := storetest.StartCluster(t, 3)
	var out strings.Builder
	cli, err := store.Connect(context.Background(), clientConfig(c.Endpoints()), infoLogger(&out))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if out.Len() != 0 {
		t.Errorf("a normal connect logs at INFO:\n%s", out.String())
	}
}
