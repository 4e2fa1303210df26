package hashring

import (
	"testing"
)

// BenchmarkRing7000 measures a 7000-relay network (two in three are
// HSDirs, about the size of the real one): parsing, ring building and one
// key's responsible HSDirs, together and step by step.
func BenchmarkRing7000(b *testing.B) {
	text, mdText := largeNetwork(7000).build()
	key := [32]byte{0x42}

	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := ParseConsensus(text)
			if err != nil {
				b.Fatal(err)
			}
			mds, err := ParseMicrodescs(mdText)
			if err != nil {
				b.Fatal(err)
			}
			c.AttachMicrodescs(mds)
			if dirs := NewRing(c, c.TimePeriods()[0]).Responsible(key); len(dirs) != 8 {
				b.Fatalf("%d HSDirs", len(dirs))
			}
		}
	})

	c, err := ParseConsensus(text)
	if err != nil {
		b.Fatal(err)
	}
	mds, err := ParseMicrodescs(mdText)
	if err != nil {
		b.Fatal(err)
	}
	c.AttachMicrodescs(mds)
	slot := c.TimePeriods()[0]
	ring := NewRing(c, slot)

	b.Run("ParseConsensus", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			if _, err := ParseConsensus(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseMicrodescs", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(mdText)))
		for b.Loop() {
			if _, err := ParseMicrodescs(mdText); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AttachMicrodescs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.AttachMicrodescs(mds)
		}
	})
	b.Run("NewRing", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewRing(c, slot)
		}
	})
	b.Run("Responsible", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ring.Responsible(key)
		}
	})
}
