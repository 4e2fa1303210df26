package publisher

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/obcluster/obcluster/publisher/hashring"
	"github.com/obcluster/obcluster/publisher/health"
	"github.com/obcluster/obcluster/publisher/hsv3"
	"github.com/obcluster/obcluster/store/record"
)

// service is one public onion address and its backends, as owned by the Run goroutine.
type service struct {
	key        *hsv3.IdentityKey
	addr       string // 56 characters
	perBackend int
	health     health.Rules // the backend-health rules, carried for the daemon (Status)
	backends   []*Backend
	// byBlinded holds the publish state per blinded key (hex, record.BlindedKeyHex), for the two
	// current descriptors and any record loaded from etcd.
	byBlinded map[string]*descState
	// lastAttempt is when each of the two descriptors (index 0 first, 1 second: descNames) was last
	// uploaded (for the Python status fields).
	lastAttempt [2]descAttempt
	skipped     []string // backends over MaxBackends
	// clients are the authorized clients' keys (restricted discovery), none when anyone may read
	// the descriptors; clientsDigest names the set, so that a change of it alone re-uploads.
	clients       []*ecdh.PublicKey
	clientsDigest string
	// blindCache holds the blinded keys of the last time periods (see blinded).
	blindCache map[[2]uint64]ed25519.PublicKey
}

type descAttempt struct {
	at     string // "2006-01-02 15:04:05" UTC, or ""
	reason string
}

// descState is the publish state of one descriptor (one blinded key).
type descState struct {
	published Published
	record    record.Publish
	// probe asks the HSDirs which revision counter they hold before the first upload (probe.go).
	probe *revisionProbe
}

func newService(sc ServiceConfig, cfg Config) (*service, error) {
	svc := &service{
		key:        sc.Key,
		addr:       sc.Key.Address(),
		perBackend: sc.IntroPointsPerBackend,
		health:     sc.Health,
		byBlinded:  map[string]*descState{},
	}
	if n := len(sc.AuthorizedClients); n > hsv3.MaxAuthorizedClients {
		return nil, fmt.Errorf("service %s: %d authorized clients, at most %d fit in a descriptor", svc.addr, n, hsv3.MaxAuthorizedClients)
	}
	for _, c := range sc.AuthorizedClients {
		if c.Key == nil {
			return nil, fmt.Errorf("service %s: authorized client %q has no key", svc.addr, c.Name)
		}
		svc.clients = append(svc.clients, c.Key)
	}
	svc.clientsDigest = digestClients(svc.clients)
	if svc.perBackend <= 0 {
		svc.perBackend = DefaultIntroPointsPerBackend
	}
	seen := map[string]bool{}
	for _, bc := range sc.Backends {
		pub, err := CheckBackend(sc.Key.PublicKey(), bc.Address)
		if err != nil {
			return nil, fmt.Errorf("service %s: backend %q: %w", svc.addr, bc.Address, err)
		}
		addr := hsv3.EncodeAddress(pub)
		if seen[addr] {
			continue
		}
		seen[addr] = true
		if cfg.MaxBackends > 0 && len(svc.backends) >= cfg.MaxBackends {
			svc.skipped = append(svc.skipped, addr)
			continue
		}
		svc.backends = append(svc.backends, &Backend{Address: addr, Name: bc.Name, Identity: pub, ClientKey: bc.ClientKey})
	}
	if len(svc.skipped) > 0 {
		cfg.Logger.Warn("more backends than max-backends; ignoring the rest", "service", svc.addr,
			"max_backends", cfg.MaxBackends, "ignored", strings.Join(svc.skipped, ","))
	}
	return svc, nil
}

// digestClients names a set of client keys (order does not matter); "" for none.
func digestClients(keys []*ecdh.PublicKey) string {
	if len(keys) == 0 {
		return ""
	}
	hexes := make([]string, len(keys))
	for i, k := range keys {
		hexes[i] = hex.EncodeToString(k.Bytes())
	}
	sort.Strings(hexes)
	sum := sha256.Sum256([]byte(strings.Join(hexes, ",")))
	return hex.EncodeToString(sum[:])
}

func (s *service) backend(addr string) *Backend {
	for _, b := range s.backends {
		if b.Address == addr {
			return b
		}
	}
	return nil
}

// loadPublished adopts publish records from etcd when they are newer than what this node knows.
func (s *service) loadPublished(recs map[string]record.Publish) {
	for bhex, rec := range recs {
		st := s.byBlinded[bhex]
		if st != nil && st.record.RevisionCounter >= rec.RevisionCounter {
			continue
		}
		s.byBlinded[bhex] = &descState{record: rec, published: publishedFromRecord(rec)}
	}
}

// publishedFromRecord rebuilds the decision input from a stored record. HSDirs still pending (the
// leader died mid-upload) count as failed, so they are retried.
func publishedFromRecord(rec record.Publish) Published {
	p := Published{
		Period:     rec.PeriodNum,
		IntroSet:   digestIntroMap(rec.IntroPoints),
		Split:      digestSplit(rec.Backends),
		UploadedAt: rec.UploadedAt,
		Revision:   rec.RevisionCounter,
		Epoch:      rec.Epoch,
		Failed:     map[string]Failure{},
	}
	copy(p.Blinded[:], rec.BlindedKey)
	for fp, r := range rec.HSDirs {
		p.HSDirs = append(p.HSDirs, fp)
		if r.Status != record.UploadUploaded {
			p.Failed[fp] = Failure{Attempts: 1, LastTry: r.At}
		}
	}
	return p
}

// blinded returns the service's blinded public key for time period tp. The keys of the last few
// periods are kept: blinding is a scalar multiplication, and the status, the publish check and the
// pruning each need them for every service, several times a second under load. Only the goroutine
// that owns svc at the time (Run, or its publishAll worker) calls it.
func (svc *service) blinded(tp hashring.TimePeriod) (ed25519.PublicKey, error) {
	k := [2]uint64{tp.Period, tp.PeriodLength}
	if b, ok := svc.blindCache[k]; ok {
		return b, nil
	}
	b, err := hsv3.BlindPublicKey(svc.key.PublicKey(), tp.Period, tp.PeriodLength)
	if err != nil {
		return nil, err
	}
	if svc.blindCache == nil || len(svc.blindCache) >= 4 {
		svc.blindCache = map[[2]uint64]ed25519.PublicKey{}
	}
	svc.blindCache[k] = b
	return b, nil
}
