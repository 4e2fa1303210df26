package hsv3

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func FuzzDecodeOuter(f *testing.F) {
	// Seeds are the vectors with their superencrypted blob cut to two lines
	// (small inputs keep the fuzzer's minimization fast), plus one whole.
	f.Add(readVector(f, "arti_hsdesc1.txt"))
	for _, name := range []string{"stem_hidden_service_v3.txt", "arti_hsdesc1.txt", "arti_hsdesc2.txt", "tor_HS_DESC_BAD_SIG.txt"} {
		f.Add(shortenObject(readVector(f, name), "-----BEGIN MESSAGE-----\n", 2))
	}
	// Only outer-layer parsing and verification: a mutated descriptor never
	// has a valid signature, so the layers behind it are fuzzed by
	// FuzzParseInner instead.
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := parseOuter(raw)
		if err != nil {
			return
		}
		_ = o.verify(hsdesc1Now, false)
		// Re-encoding a parsed outer layer gives a body that parses again.
		body := outerBody(o.lifetime, o.signingKeyCert, o.revision, o.superencrypted)
		if _, err := parseOuter(append(body, "signature "+base64Sig(o.signature)+"\n"...)); err != nil {
			t.Fatalf("re-encoded outer layer does not parse: %v", err)
		}
	})
}

func FuzzParseInner(f *testing.F) {
	for _, name := range []string{"arti_hsdesc2_inner.txt", "arti_hsdesc-inner-pow-v1.txt", "arti_hsdesc-inner-pow-empty.txt"} {
		f.Add(readVector(f, name))
	}
	f.Add(append([]byte("create2-formats 2\nintro-auth-required ed25519\nsingle-onion-service\n"),
		readVector(f, "stem_hidden_service_v3_intro_point.txt")...))
	// A middle layer, cut down to two auth-client lines and a short blob.
	text, err := layerText(readVector(f, "stem_hidden_service_v3_outer_layer.bin"), "middle")
	if err != nil {
		f.Fatal(err)
	}
	m, err := parseMiddle(text)
	if err != nil {
		f.Fatal(err)
	}
	m.AuthClients, m.Encrypted = m.AuthClients[:2], m.Encrypted[:96]
	f.Add(m.marshal())
	f.Fuzz(func(t *testing.T, text []byte) {
		if m, err := parseMiddle(text); err == nil {
			if _, err := parseMiddle(m.marshal()); err != nil {
				t.Fatalf("re-encoded middle layer does not parse: %v", err)
			}
		}
		// Signatures are left to FuzzParseCert: verifying them here would
		// make every run ten times slower.
		l, _, err := parseInner(text, nil)
		if err != nil {
			return
		}
		// What the writer makes of a parsed layer parses to the same intro points.
		again, skipped, err := parseInner(l.marshal(), nil)
		if err != nil || len(skipped) != 0 || len(again.IntroPoints) != len(l.IntroPoints) {
			t.Fatalf("re-encoded inner layer: %v, skipped %v, %d intro points, want %d", err, skipped, len(again.IntroPoints), len(l.IntroPoints))
		}
	})
}

func FuzzParseCert(f *testing.F) {
	for _, name := range []string{"stem_hidden_service_v3.txt", "arti_hsdesc1.txt"} {
		o, err := parseOuter(readVector(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(o.signingKeyCert.Marshal())
	}
	l, _, err := parseInner(readVector(f, "arti_hsdesc2_inner.txt"), nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, ip := range l.IntroPoints {
		f.Add(ip.AuthKeyCert.Marshal())
		f.Add(ip.EncKeyCert.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCert(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatal("Marshal differs from the parsed bytes")
		}
		_ = c.Verify(c.SigningKey)
		_ = c.check(c.Type, nil, hsdesc1Now, false)
	})
}

func base64Sig(sig []byte) string {
	return base64.RawStdEncoding.EncodeToString(sig)
}

// shortenObject keeps only the first n lines of the object that follows
// begin in doc.
func shortenObject(doc []byte, begin string, n int) []byte {
	start := bytes.Index(doc, []byte(begin))
	if start < 0 {
		return doc
	}
	body := start + len(begin)
	end := bytes.Index(doc[body:], []byte("\n-----END "))
	if end < 0 {
		return doc
	}
	lines := bytes.SplitN(doc[body:body+end], []byte("\n"), n+1)
	if len(lines) <= n {
		return doc
	}
	kept := bytes.Join(lines[:n], []byte("\n"))
	return append(append(append([]byte(nil), doc[:body]...), kept...), doc[body+end:]...)
}
