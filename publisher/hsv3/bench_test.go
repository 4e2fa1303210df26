package hsv3

import "testing"

func BenchmarkEncode20(b *testing.B) {
	arti, _ := vectorIntroPoints(b)
	p := EncodeParams{
		Identity: testIdentity(b), PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: 1,
		IntroPoints: cycleIntroPoints(arti, MaxIntroPoints), FlowControl: "1-2 31", Now: hsdesc1Now, Rand: testRand(20),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode20(b *testing.B) {
	arti, _ := vectorIntroPoints(b)
	identity := testIdentity(b)
	raw, err := Encode(EncodeParams{
		Identity: identity, PeriodNum: 19382, PeriodLength: 1440, RevisionCounter: 1,
		IntroPoints: cycleIntroPoints(arti, MaxIntroPoints), Now: hsdesc1Now, Rand: testRand(21),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(raw, identity.PublicKey(), 19382, 1440, DecodeOptions{Now: hsdesc1Now})
		if err != nil || len(d.IntroPoints()) != MaxIntroPoints {
			b.Fatal(err)
		}
	}
}

func BenchmarkOPERevisionCounter(b *testing.B) {
	var key [32]byte
	for b.Loop() {
		if _, err := OPERevisionCounter(key, 86400); err != nil {
			b.Fatal(err)
		}
	}
}
