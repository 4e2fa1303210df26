package hashring

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseNetwork parses a generated network and attaches its microdescs.
func parseNetwork(t testing.TB, n synthNetwork) *Consensus {
	t.Helper()
	text, mdText := n.build()
	c, err := ParseConsensus(text)
	if err != nil {
		t.Fatalf("ParseConsensus: %v", err)
	}
	mds, err := ParseMicrodescs(mdText)
	if err != nil {
		t.Fatalf("ParseMicrodescs: %v", err)
	}
	if got := c.AttachMicrodescs(mds); got != len(n.relays) {
		t.Fatalf("AttachMicrodescs matched %d of %d relays", got, len(n.relays))
	}
	return c
}

func fingerprints(dirs []HSDir) []string {
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = d.Fingerprint
	}
	return out
}

// TestOnionBalanceHashRing is OnionBalance's test_v3_hashring: 255 relays,
// 8 ordered HSDirs for each of the two descriptors.
func TestOnionBalanceHashRing(t *testing.T) {
	v := loadKeyVectors(t).OnionbalanceHashring
	prev, cur := hex32(t, v.PreviousSRV), hex32(t, v.CurrentSRV)
	c := parseNetwork(t, onionbalanceNetwork(time.Unix(v.ValidAfterUnix, 0).UTC(), prev, cur))

	sched := c.Schedule()
	if sched.PeriodLength != v.PeriodLength {
		t.Errorf("period length %d, want %d", sched.PeriodLength, v.PeriodLength)
	}
	if got := sched.PeriodNum(c.ValidAfter); got != v.CurrentTimePeriodNum {
		t.Errorf("current period %d, want %d", got, v.CurrentTimePeriodNum)
	}
	if got := sched.BetweenTPAndSRV(c.ValidAfter); got != v.BetweenTPAndSRV {
		t.Errorf("BetweenTPAndSRV = %v, want %v", got, v.BetweenTPAndSRV)
	}
	if c.HSDirNReplicas() != v.NReplicas || c.HSDirSpreadStore() != v.SpreadStore {
		t.Errorf("replicas %d spread %d", c.HSDirNReplicas(), c.HSDirSpreadStore())
	}

	srvs := map[string][32]byte{"previous": prev, "current": cur}
	slots := c.TimePeriods()
	for i, desc := range []obDesc{v.First, v.Second} {
		slot := slots[i]
		if slot.Period != desc.TimePeriodNum || slot.SRV != srvs[desc.SRV] || slot.PeriodLength != v.PeriodLength {
			t.Errorf("slot %d = {%d %d %x}, want period %d with the %s SRV", i, slot.Period, slot.PeriodLength, slot.SRV, desc.TimePeriodNum, desc.SRV)
		}
		ring := NewRing(c, slot)
		if ring.Len() != 255 {
			t.Errorf("ring %d has %d relays, want 255", i, ring.Len())
		}
		got := fingerprints(ring.Responsible(hex32(t, desc.BlindedKey)))
		if !slices.Equal(got, desc.Responsible) {
			t.Errorf("descriptor %d responsible HSDirs:\n got %v\nwant %v", i, got, desc.Responsible)
		}
	}
}

// TestArtiLiveRing checks the ring of the real (cut-down) consensus against
// derived_small_consensus_ring.
func TestArtiLiveRing(t *testing.T) {
	kv := loadKeyVectors(t)
	v := kv.SmallRing
	c, err := ParseConsensus(readVector(t, artiConsensus))
	if err != nil {
		t.Fatal(err)
	}
	mds, err := ParseMicrodescs(mdAll(t))
	if err != nil {
		t.Fatal(err)
	}
	c.AttachMicrodescs(mds)

	sched := c.Schedule()
	if got := sched.PeriodNum(c.ValidAfter); got != v.TimePeriodNum {
		t.Errorf("period %d, want %d", got, v.TimePeriodNum)
	}
	if got := sched.BetweenTPAndSRV(c.ValidAfter); got != v.BetweenTPAndSRV {
		t.Errorf("BetweenTPAndSRV = %v, want %v", got, v.BetweenTPAndSRV)
	}
	slots := c.TimePeriods()
	if slots[0].Period != v.FirstTP || slots[0].SRV != hex32(t, v.SRVPrevious) {
		t.Errorf("first slot = %+v", slots[0])
	}
	if slots[1].Period != v.SecondTP || slots[1].SRV != hex32(t, v.SRVCurrent) {
		t.Errorf("second slot = %+v", slots[1])
	}

	wantIndex := [2]map[string]string{{}, {}}
	for _, r := range v.Relays {
		if r.IndexFirst != "" {
			wantIndex[0][r.Fingerprint] = r.IndexFirst
			wantIndex[1][r.Fingerprint] = r.IndexSecond
		}
	}
	if len(wantIndex[0]) != 2 {
		t.Fatalf("vector lists %d HSDirs, want 2", len(wantIndex[0]))
	}
	for i, slot := range slots {
		ring := NewRing(c, slot)
		nodes := ring.Nodes()
		if len(nodes) != 2 {
			t.Fatalf("slot %d ring has %d relays, want 2 (Ukko, Akka)", i, len(nodes))
		}
		if bytes.Compare(nodes[0].Index[:], nodes[1].Index[:]) >= 0 {
			t.Errorf("slot %d ring is not sorted", i)
		}
		for _, n := range nodes {
			want, ok := wantIndex[i][n.Fingerprint]
			if !ok {
				t.Errorf("slot %d: unexpected relay %s (%s)", i, n.Nickname, n.Fingerprint)
				continue
			}
			if n.Index != hex32(t, want) {
				t.Errorf("slot %d %s: index %x, want %s", i, n.Nickname, n.Index, want)
			}
		}

		// Two relays, 2x4 wanted: both are chosen once, replica 1's
		// successor first.
		key := [32]byte{0x42}
		resp := ring.Responsible(key)
		if len(resp) != 2 || resp[0].Fingerprint == resp[1].Fingerprint {
			t.Fatalf("slot %d: responsible %v, want both relays once", i, fingerprints(resp))
		}
		h1 := HSIndex(key, 1, slot.Period, slot.PeriodLength)
		first := nodes[0]
		if bytes.Compare(nodes[0].Index[:], h1[:]) < 0 && bytes.Compare(nodes[1].Index[:], h1[:]) >= 0 {
			first = nodes[1]
		}
		if resp[0].Fingerprint != first.Fingerprint {
			t.Errorf("slot %d: first responsible %s, want %s", i, resp[0].Nickname, first.Nickname)
		}
	}
}

// TestRingWalk checks the selection walk against a direct reading of tor's
// rules on rings of several sizes.
func TestRingWalk(t *testing.T) {
	for _, size := range []int{1, 3, 7, 8, 9, 40} {
		net := largeNetwork(size)
		for i := range net.relays {
			net.relays[i].hsdir = true
		}
		c := parseNetwork(t, net)
		for _, slot := range c.TimePeriods() {
			ring := NewRing(c, slot)
			nodes := ring.Nodes()
			if len(nodes) != size {
				t.Fatalf("ring of %d relays has %d", size, len(nodes))
			}
			for k := range 20 {
				key := [32]byte{byte(k), byte(size)}
				for _, tc := range []struct {
					name string
					got  []HSDir
					per  int
				}{
					{"store", ring.Responsible(key), 4},
					{"fetch", ring.FetchSet(key), 3},
				} {
					want := referencePick(nodes, key, slot, 2, tc.per)
					if !slices.Equal(fingerprints(tc.got), want) {
						t.Errorf("size %d key %d %s: got %v, want %v", size, k, tc.name, fingerprints(tc.got), want)
					}
					if len(tc.got) != min(size, 2*tc.per) {
						t.Errorf("size %d %s: %d relays", size, tc.name, len(tc.got))
					}
				}
			}
		}
	}
}

// referencePick is a deliberately plain reading of hs_get_responsible_hsdirs:
// for each replica, list the ring from the first index >= hs_index, wrap
// round once, and take the first perReplica relays not taken before.
func referencePick(nodes []HSDir, key [32]byte, slot TimePeriod, replicas, perReplica int) []string {
	var taken []string
	for replica := 1; replica <= replicas; replica++ {
		h := HSIndex(key, uint64(replica), slot.Period, slot.PeriodLength)
		start := 0
		for start < len(nodes) && bytes.Compare(nodes[start].Index[:], h[:]) < 0 {
			start++
		}
		order := append(slices.Clone(nodes[start:]), nodes[:start]...)
		added := 0
		for _, n := range order {
			if added == perReplica {
				break
			}
			if !slices.Contains(taken, n.Fingerprint) {
				taken = append(taken, n.Fingerprint)
				added++
			}
		}
	}
	return taken
}

func TestRingCandidates(t *testing.T) {
	net := largeNetwork(6)
	net.relays[0].hsdir = false      // no HSDir flag
	net.relays[1].pr = "HSDir=1"     // no v3 support
	net.relays[2].pr = "HSDir=1-2,4" // ranges: supported
	c := parseNetwork(t, net)
	c.Relays[3].HasEd25519 = false   // microdesc without an identity
	c.Relays[4].NoEdConsensus = true // identity not agreed on
	ring := NewRing(c, c.TimePeriods()[0])
	got := fingerprints(ring.Nodes())
	want := []string{c.Relays[2].Fingerprint(), c.Relays[5].Fingerprint()}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ring = %v, want %v", got, want)
	}
	for _, n := range ring.Nodes() {
		if len(n.Fingerprint) != 40 || strings.ToUpper(n.Fingerprint) != n.Fingerprint || n.Nickname == "" {
			t.Errorf("bad HSDir %+v", n)
		}
	}
	if dirs := NewRing(&Consensus{}, TimePeriod{}).Responsible([32]byte{}); dirs != nil {
		t.Errorf("empty ring returned %v", dirs)
	}
}

func TestRingParams(t *testing.T) {
	net := largeNetwork(100)
	net.params = "hsdir_n_replicas=3 hsdir_spread_store=5 hsdir_spread_fetch=2"
	c := parseNetwork(t, net)
	ring := NewRing(c, c.TimePeriods()[1])
	key := [32]byte{7}
	if got := len(ring.Responsible(key)); got != 15 {
		t.Errorf("3 replicas x 5: %d HSDirs", got)
	}
	if got := len(ring.FetchSet(key)); got != 6 {
		t.Errorf("fetch 3 replicas x 2: %d HSDirs", got)
	}
	want := referencePick(ring.Nodes(), key, ring.TimePeriod(), 3, 5)
	if got := fingerprints(ring.Responsible(key)); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTimePeriodsDisasterSRV(t *testing.T) {
	text := string(readVector(t, artiConsensus))
	var kept []string
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, "shared-rand-") {
			kept = append(kept, line)
		}
	}
	c, err := ParseConsensus([]byte(strings.Join(kept, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c.PreviousSRV != nil || c.CurrentSRV != nil {
		t.Fatal("SRVs parsed from a consensus without them")
	}
	slots := c.TimePeriods()
	for i, s := range slots {
		if want := DisasterSRV(1440, s.Period); s.SRV != want {
			t.Errorf("slot %d (period %d): SRV %x, want disaster %x", i, s.Period, s.SRV, want)
		}
	}
	if slots[0].Period != 20660 || slots[1].Period != 20661 {
		t.Errorf("periods %d, %d", slots[0].Period, slots[1].Period)
	}
}

func TestClientTimePeriod(t *testing.T) {
	prev, cur := [32]byte{1}, [32]byte{2}
	for _, tc := range []struct {
		hour    int
		period  uint64
		current bool
	}{
		{10, 20660, false}, // 00:00-12:00: previous SRV
		{12, 20661, true},  // 12:00-24:00: current SRV
		{23, 20661, true},
	} {
		net := synthNetwork{
			validAfter:     time.Date(2026, 7, 27, tc.hour, 0, 0, 0, time.UTC),
			votingInterval: time.Hour,
			previousSRV:    &prev,
			currentSRV:     &cur,
		}
		c := parseNetwork(t, net)
		s := c.ClientTimePeriod()
		wantSRV := prev
		if tc.current {
			wantSRV = cur
		}
		if s.Period != tc.period || s.SRV != wantSRV || s.PeriodLength != 1440 {
			t.Errorf("%02d:00: client slot %+v, want period %d current=%v", tc.hour, s, tc.period, tc.current)
		}
		// The client's slot equals the first store slot before 12:00 and
		// the second after it.
		slots := c.TimePeriods()
		want := slots[0]
		if tc.current {
			want = slots[1]
		}
		if s != want {
			t.Errorf("%02d:00: client slot %+v differs from store slot %+v", tc.hour, s, want)
		}
	}
}
