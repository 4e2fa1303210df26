package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obcluster/obcluster/deploy/testnet"
	"github.com/obcluster/obcluster/publisher/hsv3"
)

// maxIntroPoints is the most intro points a tor client accepts in one
// descriptor (HS_CONFIG_V3_MAX_INTRO_POINTS).
const maxIntroPoints = 20

// firstUpload waits until an HSDir accepted the daemon's first descriptor and
// returns the time from the daemon's start to that.
func (d *deployment) firstUpload(ctx context.Context) (time.Duration, error) {
	_, line, err := d.daemon.waitLine(ctx, 2*time.Minute, 0, logHSDirAccepted, onion56(d.master))
	if err != nil {
		return 0, err
	}
	at, err := lineTime(line)
	if err != nil {
		return 0, fmt.Errorf("daemon log line %q: %w", line, err)
	}
	return at.Sub(d.daemon.started), nil
}

// introOwners fetches every backend's own descriptor (but skip's) and
// returns which backend each intro point auth key (base64) belongs to.
func (d *deployment) introOwners(ctx context.Context, tc *torControl, skip *backend) (map[string]string, error) {
	owners := map[string]string{}
	for _, b := range d.backends {
		if b == skip {
			continue
		}
		ips, err := backendAuthKeys(ctx, tc, b.onion)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.name, err)
		}
		for _, a := range ips {
			owners[a] = b.name
		}
	}
	return owners, nil
}

// backendAuthKeys fetches a backend's descriptor from its responsible HSDirs
// (one answer is enough) and returns its intro point auth keys.
func backendAuthKeys(ctx context.Context, tc *torControl, onion string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		v, err := tc.view(ctx)
		if err != nil {
			return nil, err
		}
		blinded, servers, err := v.clientHSDirs(onion56(onion))
		if err != nil {
			return nil, err
		}
		fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
		res, err := tc.fetchDescriptors(fctx, onion56(onion), blinded, servers)
		fcancel()
		if err != nil {
			return nil, err
		}
		for _, raw := range res.Descriptors {
			dec, err := decodeOurs(raw, onion, time.Now())
			if err != nil {
				return nil, err
			}
			return dec.auth, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no HSDir served %s: %v", onion, res.Failures)
		case <-time.After(3 * time.Second):
		}
	}
}

// masterCheck is what checkMaster found in the master descriptors.
type masterCheck struct {
	hsdirs   int
	maxIntro int
	covered  map[string]bool // backends with an intro point in some descriptor
	stem     bool            // stem decoded every descriptor
}

// checkMaster fetches the master descriptor from every responsible HSDir and
// checks each one: both decoders agree on it, it has 1 to 20 intro points,
// and every intro point is one of a backend's (owners). With tmpDir "" only
// our decoder runs (stem takes a second or more per descriptor: too slow for
// polls that time an event).
func (d *deployment) checkMaster(ctx context.Context, tc *torControl, owners map[string]string, tmpDir string) (masterCheck, error) {
	mc := masterCheck{covered: map[string]bool{}, stem: true}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := tc.fetchFromResponsible(fctx, onion56(d.master))
	if err != nil {
		return mc, err
	}
	var errs []error
	for hsdir, raw := range res.Descriptors {
		mc.hsdirs++
		var dec decoded
		if tmpDir == "" {
			mc.stem = false
			dec, err = decodeOurs(raw, d.master, time.Now())
		} else {
			dec, err = crossCheck(ctx, raw, d.master, tmpDir, time.Now())
		}
		if errors.Is(err, errNoStem) {
			mc.stem = false
		} else if err != nil {
			errs = append(errs, fmt.Errorf("descriptor from %s: %w", hsdir, err))
			continue
		}
		n := len(dec.auth)
		mc.maxIntro = max(mc.maxIntro, n)
		if n == 0 || n > maxIntroPoints {
			errs = append(errs, fmt.Errorf("descriptor from %s: %d intro points, want 1..%d", hsdir, n, maxIntroPoints))
		}
		if r := sharedRelay(dec); r != "" {
			errs = append(errs, fmt.Errorf("descriptor from %s: two intro points on relay %s (a tor client only ever uses the first)", hsdir, r))
		}
		for _, a := range dec.auth {
			owner, ok := owners[a]
			if !ok {
				errs = append(errs, fmt.Errorf("descriptor from %s: intro point %s is no backend's", hsdir, a))
				continue
			}
			mc.covered[owner] = true
		}
	}
	return mc, errors.Join(errs...)
}

// sharedRelay returns a relay (identity digest, hex) that carries more than one of the descriptor's
// intro points, or "".
func sharedRelay(dec decoded) string {
	seen := map[string]bool{}
	for _, ip := range dec.desc.IntroPoints() {
		for _, l := range ip.LinkSpecifiers {
			if l.Type != hsv3.LinkSpecLegacyID {
				continue
			}
			r := fmt.Sprintf("%X", l.Data)
			if seen[r] {
				return r
			}
			seen[r] = true
		}
	}
	return ""
}

// waitMasterCovers re-checks the master descriptors until they pass
// checkMaster and cover every backend, or within passes.
func (d *deployment) waitMasterCovers(ctx context.Context, tc *torControl, within time.Duration, tmpDir string) (masterCheck, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		owners, err := d.introOwners(ctx, tc, nil)
		var mc masterCheck
		if err == nil {
			mc, err = d.checkMaster(ctx, tc, owners, tmpDir)
		}
		if err == nil && len(mc.covered) == len(d.backends) {
			return mc, nil
		}
		if err == nil {
			err = fmt.Errorf("the master descriptors cover %d of %d backends (%v)", len(mc.covered), len(d.backends), sortedKeys(mc.covered))
		}
		select {
		case <-ctx.Done():
			return mc, fmt.Errorf("after %s: %w", within, err)
		case <-time.After(5 * time.Second):
		}
	}
}

// checkMasterCarriesNew checks that b has a new set of intro points (none
// of old) on the HSDirs, and that the master descriptors pass checkMaster
// against the new sets and cover every backend.
func (d *deployment) checkMasterCarriesNew(ctx context.Context, tc *torControl, b *backend, old []string, tmpDir string) error {
	owners, err := d.introOwners(ctx, tc, nil)
	if err != nil {
		return err
	}
	for _, a := range old {
		if owners[a] == b.name {
			return fmt.Errorf("the HSDirs still serve %s's old intro point %s", b.name, a)
		}
	}
	mc, err := d.checkMaster(ctx, tc, owners, tmpDir)
	if err != nil {
		return err
	}
	if len(mc.covered) != len(d.backends) {
		return fmt.Errorf("the master descriptors cover %v of %d backends", sortedKeys(mc.covered), len(d.backends))
	}
	return nil
}

// waitIntroPointsGone fetches the master descriptor from every responsible
// HSDir every interval until no HSDir serves an intro point of stopped (gone
// are the ones it had; any intro point that is no running backend's counts
// as stopped's too, e.g. those of its next-period descriptor) and the
// descriptors cover every other backend, or until deadline. It returns the
// time the successful fetch ended (zero if none before deadline) and the last
// reason it was not yet so. tmpDir is checkMaster's ("": our decoder only).
func (d *deployment) waitIntroPointsGone(ctx context.Context, tc *torControl, stopped *backend, gone []string,
	deadline time.Time, interval time.Duration, tmpDir string) (time.Time, string, error) {
	var last string
	for time.Now().Before(deadline) {
		// The running backends' intro points change when a new time period
		// starts: learn them afresh. The stopped one's are those it had.
		owners, err := d.introOwners(ctx, tc, stopped)
		if err == nil {
			for _, a := range gone {
				owners[a] = stopped.name
			}
		}
		var mc masterCheck
		if err == nil {
			mc, err = d.checkMaster(ctx, tc, owners, tmpDir)
		}
		switch {
		case err != nil:
			last = err.Error() // e.g. the stopped backend's next-period intro points
		case mc.covered[stopped.name]:
			last = stopped.name + " still in the master descriptor"
		case len(mc.covered) != len(d.backends)-1:
			last = "the master descriptors cover only " + strings.Join(sortedKeys(mc.covered), ", ")
		default:
			return time.Now(), "", nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, last, ctx.Err()
		case <-time.After(interval):
		}
	}
	return time.Time{}, last, nil
}

// answerCounter counts the answers of the master address over time.
type answerCounter struct {
	mu     sync.Mutex
	ok     int
	failed int
	byName map[string]int
	errs   []string
}

func (c *answerCounter) add(body string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]int{}
	}
	if err != nil {
		c.failed++
		c.errs = append(c.errs, time.Now().Format("15:04:05")+" "+err.Error())
		return
	}
	c.ok++
	c.byName[body]++
}

func (c *answerCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d answered %v, %d failed", c.ok, c.byName, c.failed)
}

// answerSink takes the outcome of each request to the master address.
type answerSink interface {
	add(body string, err error)
}

// pollAnswers requests the master address every interval on a fresh circuit
// until ctx ends, counting answers and failures in c.
func (d *deployment) pollAnswers(ctx context.Context, socks string, interval time.Duration, c answerSink) {
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		body, err := testnet.Get(actx, socks, "http://"+d.master+"/")
		cancel()
		if ctx.Err() != nil {
			return // cut short by the end of polling, not a failure
		}
		if err == nil && d.backendByAnswer(body) == nil {
			err = fmt.Errorf("answer %q is no backend's name", body)
		}
		c.add(body, err)
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

// reachAll requests the master address on fresh circuits until every backend
// answered or within passes. Before every round of requests, renew (if not
// nil) makes the client fetch the descriptor again.
func (d *deployment) reachAll(ctx context.Context, socks string, within time.Duration, renew func(context.Context) error) (*answerCounter, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	c := &answerCounter{}
	for round := 0; ; round++ {
		if renew != nil {
			if err := renew(ctx); err != nil {
				return c, err
			}
		}
		for range 4 {
			actx, acancel := context.WithTimeout(ctx, 30*time.Second)
			body, err := testnet.Get(actx, socks, "http://"+d.master+"/")
			acancel()
			if err == nil && d.backendByAnswer(body) == nil {
				return c, fmt.Errorf("answer %q is no backend's name", body)
			}
			c.add(body, err)
		}
		c.mu.Lock()
		seen := len(c.byName)
		c.mu.Unlock()
		if seen == len(d.backends) {
			return c, nil
		}
		if ctx.Err() != nil {
			return c, fmt.Errorf("within %s only %d of %d backends answered: %s", within, seen, len(d.backends), c)
		}
	}
}

// logUsage logs the daemon's memory and CPU time and the tors' memory.
func (d *deployment) logUsage(t testing.TB) {
	t.Helper()
	u, err := d.daemon.usage()
	if err != nil {
		t.Logf("%s: daemon usage: %v", d.name, err)
		return
	}
	rss, count := d.torUsage()
	netRSS, _ := d.n.TorRSS()
	t.Logf("%s: daemon RSS %s, CPU %s over %s; its %d tors %s; network tors %s",
		d.name, mib(u.RSS), u.CPU.Round(10*time.Millisecond), time.Since(d.daemon.started).Round(time.Second),
		count, mib(rss), mib(netRSS))
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// countLines counts the daemon log lines from index from on that contain
// every one of subs.
func countLines(lines []string, from int, subs ...string) int {
	n := 0
	for i := from; i < len(lines); i++ {
		if containsAll(lines[i], subs) {
			n++
		}
	}
	return n
}

// firstLineAfter returns the first line from index from on containing every
// one of subs, and its time.
func firstLineAfter(lines []string, from int, subs ...string) (string, time.Time, bool) {
	for i := from; i < len(lines); i++ {
		if containsAll(lines[i], subs) {
			at, err := lineTime(lines[i])
			return strings.TrimSpace(lines[i]), at, err == nil
		}
	}
	return "", time.Time{}, false
}
