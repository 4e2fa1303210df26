package publisher

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Published is what the publisher remembers of its last upload of one descriptor (first or
// second) of one service. The zero value means "never published".
type Published struct {
	Period     uint64   // time period number the descriptor was built for
	Blinded    [32]byte // blinded key of that period
	IntroSet   string   // digest of the intro points that went in, with their backends
	Split      string   // digest of which backends' intro points went to which HSDir
	Clients    string   // digest of the authorized clients it was encrypted for ("" for none)
	HSDirs     []string // responsible HSDirs at the time of the upload (fingerprints)
	UploadedAt time.Time
	Revision   uint64
	// Epoch is the leadership that published it.
	Epoch int64
	// Failed holds the HSDirs whose upload failed, with how often and when it was last tried.
	Failed map[string]Failure
}

// Failure counts failed uploads to one HSDir.
type Failure struct {
	Attempts int
	LastTry  time.Time
}

// Want is what one descriptor (one blinded key) should be now.
type Want struct {
	Period   uint64
	Blinded  [32]byte
	IntroSet string
	// Split is the digest of the plan's backends per HSDir: with distinct descriptors the same intro
	// points can be spread differently (a backend joined or left elsewhere, the fetch set moved).
	Split string
	// Clients is the digest of the authorized clients (restricted discovery), "" for none: a new
	// client list needs a new descriptor at once.
	Clients string
	HSDirs  []string
	// Epoch is the current leadership: a new leader publishes at once, so that what is on the HSDirs
	// is its own and the takeover is visible (and measurable) at once.
	Epoch int64
}

// Timing holds the knobs of Decide.
type Timing struct {
	// Refresh republishes an unchanged descriptor after this long.
	Refresh time.Duration
	// RetryMin and RetryMax bound the exponential backoff of retries to failed HSDirs.
	RetryMin, RetryMax time.Duration
}

// Decision says whether to upload now, why, and to which HSDirs.
type Decision struct {
	Publish bool
	// Reason is a short human-readable cause, for logs and status.
	Reason string
	// Targets are the HSDirs to upload to: all of Want.HSDirs, or only failed ones being retried.
	Targets []string
	// Retry is true when only failed HSDirs are retried with the last descriptor.
	Retry bool
}

// Decide is the pure "should we publish this descriptor now" rule. A full upload happens when the
// descriptor was never published for this period (or blinded key), the intro set or its split over
// the HSDirs changed, the responsible HSDir set changed, or the refresh interval passed. Otherwise
// HSDirs that failed are retried, each with its own exponential backoff.
func Decide(last Published, want Want, now time.Time, t Timing) Decision {
	full := func(reason string) Decision {
		return Decision{Publish: true, Reason: reason, Targets: slices.Clone(want.HSDirs)}
	}
	switch {
	case len(want.HSDirs) == 0:
		return Decision{Reason: "no responsible HSDirs"}
	case last.UploadedAt.IsZero():
		return full("never published")
	case last.Period != want.Period || last.Blinded != want.Blinded:
		return full("new time period")
	case last.Epoch != want.Epoch:
		return full("new leader")
	case last.IntroSet != want.IntroSet:
		return full("intro points changed")
	case last.Clients != want.Clients:
		return full("authorized clients changed")
	case !sameSet(last.HSDirs, want.HSDirs):
		return full("responsible HSDirs changed")
	case last.Split != want.Split:
		return full("backends moved between descriptors")
	case now.Sub(last.UploadedAt) >= t.Refresh:
		return full("refresh interval passed")
	}
	var retry []string
	for _, h := range want.HSDirs {
		f, ok := last.Failed[h]
		if ok && now.Sub(f.LastTry) >= backoff(f.Attempts, t.RetryMin, t.RetryMax) {
			retry = append(retry, h)
		}
	}
	if len(retry) > 0 {
		return Decision{Publish: true, Reason: "retry failed HSDirs", Targets: retry, Retry: true}
	}
	return Decision{Reason: "up to date"}
}

// backoff is RetryMin doubled per earlier attempt, capped at RetryMax.
func backoff(attempts int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempts && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// NextRevision returns the revision counter for a new upload: the time-based (OPE) value, but always
// above the last one published for the same blinded key, so a new leader or a restarted node never goes
// backwards (HSDirs only accept strictly greater counters). At the largest counter it stays there
// rather than wrap to 0, which would be below every counter the HSDirs hold and be stored for good.
func NextRevision(timeBased, last uint64) uint64 {
	switch {
	case timeBased > last:
		return timeBased
	case last == math.MaxUint64:
		return last
	}
	return last + 1
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}
