package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// assertNoKeyMaterial fails if out contains the master key in any usual encoding.
func assertNoKeyMaterial(t *testing.T, what, out string, k *hsv3.IdentityKey) {
	t.Helper()
	raw := k.MarshalTorSecretKey()[32:]
	for _, enc := range []string{string(raw), fmt.Sprintf("%x", raw), base64.StdEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(k.MarshalTorSecretKey())} {
		if strings.Contains(out, enc) {
			t.Fatalf("%s contains the master key", what)
		}
	}
	if bytes.Contains([]byte(out), raw[:16]) {
		t.Fatalf("%s contains master key bytes", what)
	}
}

func runCLIEnv(t *testing.T, getenv func(string) string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env{stdout: &out, stderr: &errb, getenv: getenv})
	return code, out.String(), errb.String()
}
