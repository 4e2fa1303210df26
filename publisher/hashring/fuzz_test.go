package hashring

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/obcluster/obcluster/internal/torvectors"
)

// fuzzSeeds returns the vector files (when present) plus small generated
// documents, so fuzzing works even without the vectors folder.
func fuzzSeeds(names ...string) [][]byte {
	var seeds [][]byte
	if dir, ok := torvectors.Find(); ok {
		for _, name := range names {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	return seeds
}

func FuzzParseConsensus(f *testing.F) {
	for _, s := range fuzzSeeds(artiConsensus) {
		f.Add(s)
	}
	f.Add([]byte(minimalConsensus))
	small := largeNetwork(3)
	small.votingInterval = 20 * time.Second
	text, _ := small.build()
	f.Add(text)

	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseConsensus(text)
		if err != nil {
			if c != nil {
				t.Fatal("consensus returned with an error")
			}
			return
		}
		// Everything downstream of a parsed consensus must not panic
		// either, and must keep its invariants.
		for i := range c.Relays {
			c.Relays[i].HasEd25519 = true // put every entry on the ring
			c.Relays[i].Ed25519[0] = byte(i)
			c.Relays[i].Ed25519[1] = byte(i >> 8)
		}
		c.ReasonablyLive(time.Unix(0, 0))
		slots := c.TimePeriods()
		for _, slot := range append(slots[:], c.ClientTimePeriod()) {
			ring := NewRing(c, slot)
			key := [32]byte{1, 2, 3}
			for _, dirs := range [][]HSDir{ring.Responsible(key), ring.FetchSet(key)} {
				if len(dirs) > ring.Len() {
					t.Fatalf("%d HSDirs from a ring of %d", len(dirs), ring.Len())
				}
				seen := map[string]bool{}
				for _, d := range dirs {
					if seen[d.Fingerprint] {
						t.Fatalf("HSDir %s chosen twice", d.Fingerprint)
					}
					seen[d.Fingerprint] = true
				}
			}
		}
	})
}

func FuzzParseMicrodescs(f *testing.F) {
	var all []byte
	for _, s := range fuzzSeeds(
		"consensus/arti-live_microdesc_lisdex.txt",
		"consensus/arti-live_microdesc_moria1.txt",
		"consensus/arti-live_microdesc_Ukko.txt",
		"consensus/arti-live_microdesc_d2d4.txt",
		"consensus/arti-live_microdesc_Akka.txt",
	) {
		f.Add(s)
		all = append(all, s...)
	}
	if all != nil {
		f.Add(all)
	}
	_, mds := largeNetwork(3).build()
	f.Add(mds)
	f.Add([]byte("\r\n@last-listed x\r\nonion-key\r\nid ed25519 none\r\n"))

	f.Fuzz(func(t *testing.T, text []byte) {
		mds, err := ParseMicrodescs(text)
		if err != nil {
			if mds != nil {
				t.Fatal("microdescs returned with an error")
			}
			return
		}
		// Parsing is deterministic and attaching never panics.
		again, err := ParseMicrodescs(text)
		if err != nil || len(again) != len(mds) {
			t.Fatalf("second parse differs: %v", err)
		}
		for i := range mds {
			if mds[i] != again[i] {
				t.Fatalf("microdesc %d differs between parses", i)
			}
		}
		c := &Consensus{Relays: make([]Relay, len(mds))}
		for i := range mds {
			c.Relays[i].MicrodescDigest = mds[i].Digest
		}
		if n := c.AttachMicrodescs(mds); n != len(mds) {
			t.Fatalf("attached %d of %d microdescs to their own digests", n, len(mds))
		}
	})
}
