package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// bigEnv set to "0" skips TestOBHostTwelveBackends, the heaviest end-to-end
// test (14 more tors, about 200 MiB, 2.5 minutes).
const bigEnv = "OB_E2E_BIG"

// TestOBHostTwelveBackends balances twelve backends (issue 8): their 24 intro
// points do not fit one descriptor, so the HSDirs get different descriptors.
// Every descriptor on every responsible HSDir must hold at most 20 intro
// points, all of them backends', decode with our decoder and stem alike, and
// together they must cover every backend, with at most one intro point per
// relay (a tor client only uses the first on each relay; the private network
// has 8, so each descriptor holds at most 8); a client that fetches the
// descriptor again between requests reaches every backend.
func TestOBHostTwelveBackends(t *testing.T) {
	if os.Getenv(bigEnv) == "0" {
		t.Skipf("%s=0: skipping the twelve-backend test", bigEnv)
	}
	t.Parallel()
	n := shared.Network(t)
	ctx := t.Context()
	d := deploy(ctx, t, n, deployConfig{Name: "ob12", Backends: 12, Client: true})
	took, err := d.firstUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon start to the first descriptor accepted by an HSDir: %s", took.Round(100*time.Millisecond))
	tc := dialTorControl(t, d.client.control)

	t.Run("descriptors", func(t *testing.T) {
		mc, err := d.waitMasterCovers(ctx, tc, 4*time.Minute, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if !mc.stem {
			t.Skipf("%v: only our decoder checked the descriptors", errNoStem)
		}
		t.Logf("%d HSDirs served a master descriptor, at most %d intro points each; together they cover all %d backends; both decoders agree",
			mc.hsdirs, mc.maxIntro, len(d.backends))
		if distinct := d.distinctMasterDescriptors(t, tc); distinct < 2 {
			t.Errorf("%d distinct intro point sets on the HSDirs; 24 intro points need at least 2", distinct)
		}
	})

	t.Run("status-per-hsdir", func(t *testing.T) {
		if n := d.checkStatusPerHSDir(t, tc); n == 0 {
			t.Fatal("no HSDir compared")
		}
	})

	t.Run("reach-all", func(t *testing.T) {
		began := time.Now()
		c, err := d.reachAll(ctx, d.client.socks, 6*time.Minute, tc.newnym)
		t.Logf("requests on fresh circuits, fetching the descriptor again before every 4: %s (%s)", c, time.Since(began).Round(time.Second))
		if err != nil {
			t.Fatal(err)
		}
	})

	d.logUsage(t)
	du, err := d.daemon.usage()
	if err != nil {
		t.Fatal(err)
	}
	torRSS, count := d.torUsage()
	netRSS, err := n.TorRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("total RSS: network tors %s + this host's %d tors %s + daemon %s = %s",
		mib(netRSS), count, mib(torRSS), mib(du.RSS), mib(netRSS+torRSS+du.RSS))
}

// checkStatusPerHSDir compares, for every responsible HSDir, the backends the
// status socket says its descriptor holds with the backends of the
// descriptor it serves. It returns how many HSDirs it compared.
func (d *deployment) checkStatusPerHSDir(t *testing.T, tc *torControl) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	owners, err := d.introOwners(ctx, tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tc.fetchFromResponsible(ctx, onion56(d.master))
	if err != nil {
		t.Fatal(err)
	}
	status, err := statusBackendsByHSDir(ctx, d.daemon.statusSock, d.master)
	if err != nil {
		t.Fatal(err)
	}
	byOnion := map[string]string{}
	for _, b := range d.backends {
		byOnion[onion56(b.onion)] = b.name
	}
	compared := 0
	for hsdir, raw := range res.Descriptors {
		dec, err := decodeOurs(raw, d.master, time.Now())
		if err != nil {
			t.Fatalf("descriptor from %s: %v", hsdir, err)
		}
		served := map[string]bool{}
		for _, a := range dec.auth {
			served[owners[a]] = true
		}
		listed, ok := status[dec.desc.PeriodNum][hsdir]
		if !ok {
			// Published just now for a new revision; the next fetch agrees.
			t.Logf("status has no entry for HSDir %s in period %d", hsdir, dec.desc.PeriodNum)
			continue
		}
		var names []string
		for _, b := range listed {
			names = append(names, byOnion[b])
		}
		slices.Sort(names)
		if got := sortedKeys(served); !slices.Equal(names, got) {
			t.Errorf("HSDir %s: status lists %v, its descriptor holds %v", hsdir, names, got)
		}
		compared++
	}
	t.Logf("status and descriptors agree on the backends of %d HSDirs", compared)
	return compared
}

// statusBackendsByHSDir reads the status socket at path: for service addr,
// per time period and HSDir, the backends in the descriptor uploaded there.
func statusBackendsByHSDir(ctx context.Context, path, addr string) (map[uint64]map[string][]string, error) {
	var st struct {
		Services []struct {
			OnionAddress string `json:"onionAddress"`
			Descriptors  []struct {
				Period uint64 `json:"period"`
				HSDirs map[string]struct {
					Backends []string `json:"backends"`
				} `json:"hsdirs"`
			} `json:"descriptors"`
		} `json:"services"`
	}
	if err := readStatusSocket(ctx, path, &st); err != nil {
		return nil, err
	}
	out := map[uint64]map[string][]string{}
	for _, s := range st.Services {
		if s.OnionAddress != addr {
			continue
		}
		for _, ds := range s.Descriptors {
			out[ds.Period] = map[string][]string{}
			for fp, h := range ds.HSDirs {
				out[ds.Period][fp] = h.Backends
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("status socket %s lists no service %s", path, addr)
}

// distinctMasterDescriptors counts the different intro point sets the
// responsible HSDirs serve for the master address.
func (d *deployment) distinctMasterDescriptors(t *testing.T, tc *torControl) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := tc.fetchFromResponsible(ctx, onion56(d.master))
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]bool{}
	for hsdir, raw := range res.Descriptors {
		dec, err := decodeOurs(raw, d.master, time.Now())
		if err != nil {
			t.Fatalf("descriptor from %s: %v", hsdir, err)
		}
		auth := slices.Clone(dec.auth)
		slices.Sort(auth)
		sets[strings.Join(auth, ",")] = true
	}
	return len(sets)
}
