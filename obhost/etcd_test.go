package obhost

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestWriteFileAtomicNeverHalfWritten: a reader that finds the endpoints file reads all of it (an
// operator command started right after the daemon read an empty file and reported "no endpoints").
func TestWriteFileAtomicNeverHalfWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), EndpointsFile)
	want := "unix:///var/lib/onionbalance/etcd.sock\n"
	var stop atomic.Bool
	done := make(chan int)
	go func() {
		partial := 0
		for !stop.Load() {
			if b, err := os.ReadFile(path); err == nil && string(b) != want {
				partial++
			}
		}
		done <- partial
	}()
	for range 2000 {
		_ = os.Remove(path)
		if err := writeFileAtomic(path, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	if partial := <-done; partial != 0 {
		t.Fatalf("the reader saw a partly written file %d times", partial)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v, %v", fi, err)
	}
}
