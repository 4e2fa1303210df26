package publisher

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store/record"
)

// Backend is one backend onion service and what was last learnt of it.
type Backend struct {
	Address  string // 56 characters, no ".onion"
	Name     string
	Identity ed25519.PublicKey
	// ClientKey decrypts the descriptor of a backend with restricted discovery; nil otherwise.
	ClientKey *ecdh.PrivateKey

	// Intro points of the last good descriptor: fetched and verified, or loaded from etcd and verified
	// again (verifyRecord).
	Record record.Instance
	// RevisionSince is when the current descriptor revision was first seen: a live tor re-uploads its
	// descriptor with a new revision counter at least every two hours.
	RevisionSince time.Time
	// IntroSetModified is when the intro points last changed (the Python status field).
	IntroSetModified time.Time
	// LastFetchError is the reason of the last failed fetch, for status.
	LastFetchError string

	blinded string // blinded key (tor's base64) of the descriptor in Record
}

// Liveness holds the rules that decide whether a backend still counts.
type Liveness struct {
	// Timeout drops a backend whose descriptor was not received for this long.
	Timeout time.Duration
	// MaxRevisionAge drops a backend whose descriptor revision did not change for this long.
	MaxRevisionAge time.Duration
	// CertMargin drops intro points whose certificates expire sooner than this.
	CertMargin time.Duration
}

// Live reports whether the backend should be in the next descriptor, and why not.
func (b *Backend) Live(now time.Time, l Liveness) (bool, string) {
	switch {
	case b.Record.ReceivedAt.IsZero():
		return false, "no descriptor yet"
	case now.Sub(b.Record.ReceivedAt) > l.Timeout:
		return false, "descriptor not received for " + now.Sub(b.Record.ReceivedAt).Round(time.Second).String()
	case l.MaxRevisionAge > 0 && !b.RevisionSince.IsZero() && now.Sub(b.RevisionSince) > l.MaxRevisionAge:
		return false, "descriptor not renewed for " + now.Sub(b.RevisionSince).Round(time.Second).String()
	}
	return true, ""
}

// usableIntroPoints returns the backend's intro points that can be copied into a master descriptor now,
// in a stable order (by auth key).
func (b *Backend) usableIntroPoints(now time.Time, margin time.Duration) []record.IntroPoint {
	var ips []record.IntroPoint
	for _, ip := range b.Record.IntroPoints {
		if ip.AuthKeyExpires.Before(now.Add(margin)) || ip.EncKeyCertExpires.Before(now.Add(margin)) {
			continue
		}
		ips = append(ips, ip)
	}
	sort.Slice(ips, func(i, j int) bool { return bytes.Compare(ips[i].AuthKey, ips[j].AuthKey) < 0 })
	return ips
}

// introRelay names the relay an intro point is on: its RSA identity digest (hex), which is what a tor
// client matches intro points by. An intro point without one (tor always writes it) is named by its
// whole link-specifier block, so it never collides with another.
func introRelay(ip record.IntroPoint) string {
	if specs, err := hsv3.ParseLinkSpecifiers(ip.LinkSpecifiers); err == nil {
		for _, l := range specs {
			if l.Type == hsv3.LinkSpecLegacyID {
				return hex.EncodeToString(l.Data)
			}
		}
	}
	return "ls:" + hex.EncodeToString(ip.LinkSpecifiers)
}

// recordFromDescriptor converts a decoded backend descriptor into its etcd record, keeping only intro
// points that can be copied (no legacy keys). The caller adds the raw descriptor.
func recordFromDescriptor(addr, name string, d *hsv3.Descriptor, hsdir string, now time.Time) record.Instance {
	rec := record.Instance{
		Address:            addr,
		Name:               name,
		ReceivedAt:         now,
		DescriptorRevision: d.RevisionCounter,
		HSDir:              hsdir,
		FlowControl:        d.Inner.FlowControl,
		PeriodNum:          d.PeriodNum,
		PeriodLength:       d.PeriodLength,
	}
	for _, ip := range d.IntroPoints() {
		if ip.HasLegacyKey() || ip.AuthKeyCert == nil || ip.EncKeyCert == nil {
			continue
		}
		rec.IntroPoints = append(rec.IntroPoints, record.IntroPoint{
			LinkSpecifiers:    slices.Clone(ip.LinkSpecifiersRaw),
			OnionKey:          slices.Clone(ip.OnionKey[:]),
			AuthKey:           slices.Clone(ip.AuthKeyCert.CertifiedKey),
			AuthKeyExpires:    ip.AuthKeyCert.Expiry(),
			EncKey:            slices.Clone(ip.EncKey[:]),
			EncKeyCertKey:     slices.Clone(ip.EncKeyCert.CertifiedKey),
			EncKeyCertExpires: ip.EncKeyCert.Expiry(),
		})
	}
	return rec
}

// verifyRecord re-verifies an instance record read from etcd, which is trusted for availability but
// not for integrity: the descriptor it carries must be the backend's own (signature, and signing key
// certified by the blinded key derived from b's address for the record's time period, certificates
// valid at now), and the record returned is rebuilt from that descriptor alone. Its intro points are
// the descriptor's, whatever the stored summary says; only when the descriptor was received (never
// later than now) and the writer's epoch and node are taken from the stored record.
func verifyRecord(b *Backend, r record.Instance, now time.Time) (record.Instance, error) {
	if r.Address != b.Address {
		return record.Instance{}, fmt.Errorf("record is for %s, not %s", r.Address, b.Address)
	}
	if r.Descriptor == "" || r.PeriodLength == 0 {
		return record.Instance{}, errors.New("record carries no descriptor to verify (written by an older version?)")
	}
	d, err := hsv3.Decode([]byte(r.Descriptor), b.Identity, r.PeriodNum, r.PeriodLength, hsv3.DecodeOptions{Now: now, ClientKey: b.ClientKey})
	if err != nil {
		return record.Instance{}, fmt.Errorf("its descriptor does not verify for %s: %w", b.Address, err)
	}
	rec := recordFromDescriptor(b.Address, b.Name, d, r.HSDir, r.ReceivedAt)
	if rec.ReceivedAt.After(now) {
		rec.ReceivedAt = now
	}
	rec.Descriptor, rec.Epoch, rec.Node, rec.Key = r.Descriptor, r.Epoch, r.Node, r.Key
	return rec, nil
}

// hsv3IntroPoint turns a stored intro point back into the encoder's input. The certificates carry only
// what the encoder re-issues: the certified key and the expiry.
func hsv3IntroPoint(ip record.IntroPoint) (hsv3.IntroPoint, error) {
	out := hsv3.IntroPoint{LinkSpecifiersRaw: ip.LinkSpecifiers}
	ls, err := hsv3.ParseLinkSpecifiers(ip.LinkSpecifiers)
	if err != nil {
		return out, err
	}
	out.LinkSpecifiers = ls
	copy(out.OnionKey[:], ip.OnionKey)
	copy(out.EncKey[:], ip.EncKey)
	out.AuthKeyCert = &hsv3.Cert{Type: hsv3.CertTypeIntroAuth, CertifiedKey: ip.AuthKey, ExpirationHours: hours(ip.AuthKeyExpires)}
	out.EncKeyCert = &hsv3.Cert{Type: hsv3.CertTypeIntroEnc, CertifiedKey: ip.EncKeyCertKey, ExpirationHours: hours(ip.EncKeyCertExpires)}
	return out, nil
}

func hours(t time.Time) uint32 { return uint32(t.Unix() / 3600) }

// introSetKey identifies an intro point: its auth key.
func introSetKey(ip record.IntroPoint) string { return base64.StdEncoding.EncodeToString(ip.AuthKey) }

// sameIntroPoints compares two intro-point sets by auth key, ignoring order.
func sameIntroPoints(a, b []record.IntroPoint) bool {
	if len(a) != len(b) {
		return false
	}
	keys := func(ips []record.IntroPoint) []string {
		out := make([]string, len(ips))
		for i, ip := range ips {
			out[i] = introSetKey(ip)
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(keys(a), keys(b))
}

// digestSplit hashes "HSDir -> backends in its descriptor" in a canonical order.
func digestSplit(byHSDir map[string][]string) string {
	h := sha256.New()
	for _, fp := range slices.Sorted(maps.Keys(byHSDir)) {
		h.Write([]byte(fp))
		for _, b := range slices.Sorted(slices.Values(byHSDir[fp])) {
			h.Write([]byte{0})
			h.Write([]byte(b))
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// digestIntroMap hashes "auth key -> backend" pairs in a canonical order: the identity of what a
// publication contains.
func digestIntroMap(m map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(m[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
