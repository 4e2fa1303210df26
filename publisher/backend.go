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
	// RevisionSince is when the backend last uploaded a new descriptor revision, as far as we saw: a
	// live tor re-uploads its descriptor with a new revision counter at least every two hours. It is
	// stored with the instance record, so a new leader goes on from it (see noteRevision).
	RevisionSince time.Time
	// revisions holds the highest revision counter seen per time period (a tor service's descriptors
	// of two periods have their own, unrelated counters): a lower one is an older copy.
	revisions map[uint64]uint64
	// IntroSetModified is when the intro points last changed (the Python status field).
	IntroSetModified time.Time
	// LastFetchError is the reason of the last failed fetch, for status.
	LastFetchError string
	// Excluded is why the leader's health judgement removed the backend from this service's
	// descriptors ("" : not excluded); Verdict is the judgement, for status (SetHealth).
	Excluded string
	Verdict  record.BackendHealth

	blinded string // blinded key (tor's base64) of the descriptor in Record
	// decoded is the last descriptor that verified, for the copies of it other HSDirs serve.
	decoded *decodeCache
}

// torReuploadMax is the longest a live tor service waits before it uploads its descriptor again, with a
// new revision counter (hs_service.c: the next upload is 60 to 120 minutes after the last).
const torReuploadMax = 120 * time.Minute

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
	case b.Excluded != "":
		return false, "down: " + b.Excluded
	}
	return true, ""
}

// noteRevision records that a verified copy of the backend's descriptor for time period period, with
// revision counter rev, arrived at now. It returns false for an older copy (from an HSDir that lags
// behind): a counter below the highest seen for that period changes nothing.
//
// A counter above the highest seen for the period is a new upload by the backend: RevisionSince
// becomes now. The first copy of a period with none seen before (the client time period moves on
// once a day) proves no new upload: it may be hours old. It moves RevisionSince forward only to now
// minus credit, where credit leaves a live tor time for its next upload under maxAge. A backend seen
// stale (its record received still unchanged over maxAge after its revision) stays stale until it
// shows a new revision; one merely not watched for that long (no fetches) gets the credit.
func (b *Backend) noteRevision(period, rev uint64, now time.Time, maxAge, credit time.Duration) bool {
	if b.revisions == nil {
		b.revisions = map[uint64]uint64{}
	}
	last, known := b.revisions[period]
	switch {
	case known && rev < last:
		return false
	case known && rev == last:
	case known || b.RevisionSince.IsZero():
		b.RevisionSince = now
	case maxAge <= 0 || b.Record.ReceivedAt.Sub(b.RevisionSince) <= maxAge:
		if since := now.Add(-max(credit, 0)); since.After(b.RevisionSince) {
			b.RevisionSince = since
		}
	}
	b.revisions[period] = max(last, rev)
	for p := range b.revisions { // only the periods around this one matter
		if p+2 < period || p > period+2 {
			delete(b.revisions, p)
		}
	}
	return true
}

// loadRecord adopts a verified record read from etcd (verifyRecord), with the time its revision was
// first seen by the leader that wrote it. The earlier time wins for a revision this node saw itself.
func (b *Backend) loadRecord(v record.Instance) {
	since := v.RevisionSince
	if b.Record.PeriodNum == v.PeriodNum && b.Record.DescriptorRevision == v.DescriptorRevision &&
		!b.RevisionSince.IsZero() && b.RevisionSince.Before(since) {
		since = b.RevisionSince
	}
	b.Record, b.RevisionSince, b.IntroSetModified = v, since, v.ReceivedAt
	if b.revisions == nil {
		b.revisions = map[uint64]uint64{}
	}
	b.revisions[v.PeriodNum] = max(b.revisions[v.PeriodNum], v.DescriptorRevision)
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
	rec.RevisionSince = revisionSince(r.RevisionSince, rec.ReceivedAt, time.Duration(d.LifetimeMinutes)*time.Minute)
	rec.Descriptor, rec.Epoch, rec.Node, rec.Key = r.Descriptor, r.Epoch, r.Node, r.Key
	return rec, nil
}

// revisionSince bounds a stored "revision first seen at" by what is known of a descriptor received at
// receivedAt with the given lifetime: it was seen no later than it was received, and no earlier than a
// lifetime before (an HSDir drops a descriptor a lifetime after its upload, and it cannot be seen
// before it is uploaded). Zero (a record written before the field existed) is receivedAt.
func revisionSince(stored, receivedAt time.Time, lifetime time.Duration) time.Time {
	switch {
	case stored.IsZero() || stored.After(receivedAt):
		return receivedAt
	case lifetime > 0 && stored.Before(receivedAt.Add(-lifetime)):
		return receivedAt.Add(-lifetime)
	}
	return stored
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
