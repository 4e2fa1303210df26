package testnet

import (
	"context"
	"errors"
	"testing"
	"time"
)

// BenchmarkUpReady measures Up until the client is bootstrapped and sees
// every HSDir, and reports the summed tor RSS right then. Run with
// -bench UpReady -benchtime 3x (each iteration starts a whole network).
func BenchmarkUpReady(b *testing.B) {
	for _, tc := range []struct {
		name     string
		noTuning bool
	}{{"tuned", false}, {"untuned", true}} {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := FindBinaries(context.Background(), "", ""); errors.Is(err, ErrTorMissing) || errors.Is(err, ErrTorTooOld) {
				b.Skip(err)
			}
			var rssTotal int64
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				began := time.Now()
				n, err := Up(ctx, Options{Dir: b.TempDir(), NoMemoryTuning: tc.noTuning})
				elapsed := time.Since(began)
				if err != nil {
					cancel()
					b.Fatal(err)
				}
				b.StopTimer()
				rss, err := n.TorRSS()
				if err != nil {
					b.Error(err)
				}
				rssTotal += rss
				b.Logf("ready in %s, tor RSS %d MiB", elapsed.Round(100*time.Millisecond), rss>>20)
				if err := n.Down(ctx); err != nil {
					b.Error(err)
				}
				cancel()
				b.StartTimer()
			}
			b.ReportMetric(float64(rssTotal)/float64(b.N)/(1<<20), "torRSS-MiB")
		})
	}
}
