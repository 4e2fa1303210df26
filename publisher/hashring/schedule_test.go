package hashring

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

var realNetwork = Schedule{VotingInterval: 3600, PeriodLength: 1440}

func TestPeriodNumVectors(t *testing.T) {
	kv := loadKeyVectors(t)
	if len(kv.TimePeriods.Cases) == 0 {
		t.Fatal("no time-period cases in key-vectors.json")
	}
	for _, tc := range kv.TimePeriods.Cases {
		at := parseVectorTime(t, tc.Time)
		if tc.Unix != nil && at.Unix() != *tc.Unix {
			t.Fatalf("%s: vector unix %d disagrees with its time", tc.Time, *tc.Unix)
		}
		n := realNetwork.PeriodNum(at)
		if n != tc.TimePeriodNum {
			t.Errorf("PeriodNum(%s) = %d, want %d", tc.Time, n, tc.TimePeriodNum)
		}
		if tc.NextTimePeriodNum != nil && n+1 != *tc.NextTimePeriodNum {
			t.Errorf("%s: next period %d, want %d", tc.Time, n+1, *tc.NextTimePeriodNum)
		}
		if tc.NextTPStart != "" {
			want := parseVectorTime(t, tc.NextTPStart)
			if got := realNetwork.PeriodStart(n + 1); !got.Equal(want) {
				t.Errorf("%s: next period starts %v, want %v", tc.Time, got, want)
			}
		}
	}
}

// TestTestNetworkSchedule checks the testnet_note of key-vectors.json: with
// a 10 s voting interval periods last 4 minutes with a 2-minute offset.
func TestTestNetworkSchedule(t *testing.T) {
	kv := loadKeyVectors(t)
	if !strings.Contains(kv.TimePeriods.TestnetNote, "voting interval 10s") {
		t.Fatalf("testnet note changed: %q", kv.TimePeriods.TestnetNote)
	}
	text := strings.Replace(minimalConsensus, "fresh-until 2026-07-27 11:00:00", "fresh-until 2026-07-27 10:00:10", 1)
	c, err := ParseConsensus([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !c.TestNetwork {
		t.Fatal("a 10 s voting interval must be taken for a test network")
	}
	sched := c.Schedule()
	if sched.VotingInterval != 10 || sched.PeriodLength != 4 {
		t.Fatalf("schedule = %+v, want 10 s voting and 4-minute periods", sched)
	}
	day := time.Date(2016, 4, 13, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ at, nextStart time.Time }{
		{day, day.Add(2 * time.Minute)},
		{day.Add(2 * time.Minute), day.Add(6 * time.Minute)},
		{day.Add(5*time.Minute + 59*time.Second), day.Add(6 * time.Minute)},
	} {
		if got := sched.PeriodStart(sched.PeriodNum(tc.at) + 1); !got.Equal(tc.nextStart) {
			t.Errorf("after %v the next period starts %v, want %v", tc.at, got, tc.nextStart)
		}
	}

	// The Python tool's testnet: 20 s voting gives 8-minute periods.
	text = strings.Replace(minimalConsensus, "fresh-until 2026-07-27 11:00:00", "fresh-until 2026-07-27 10:00:20", 1)
	if c, err = ParseConsensus([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if got := c.Schedule().PeriodLength; got != 8 {
		t.Errorf("20 s voting: period length %d, want 8", got)
	}

	// A caller that knows the network is real overrides the guess.
	c.TestNetwork = false
	if got := c.Schedule().PeriodLength; got != 1440 {
		t.Errorf("TestNetwork=false: period length %d, want hsdir_interval 1440", got)
	}
}

func TestHSDirIntervalParam(t *testing.T) {
	text := strings.Replace(minimalConsensus, "params hsdir_spread_store=4", "params hsdir_interval=120", 1)
	c, err := ParseConsensus([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	sched := c.Schedule()
	if sched.PeriodLength != 120 {
		t.Fatalf("period length %d, want 120", sched.PeriodLength)
	}
	// Offset stays 12 voting intervals (720 min); periods are 2 h.
	at := time.Date(2026, 7, 27, 12, 30, 0, 0, time.UTC)
	n := sched.PeriodNum(at)
	if start := sched.PeriodStart(n); start.After(at) || !sched.PeriodStart(n+1).After(at) {
		t.Errorf("period %d [%v, %v) does not contain %v", n, start, sched.PeriodStart(n+1), at)
	}
	if got := sched.PeriodStart(n); got != time.Date(2026, 7, 27, 12, 0, 0, 0, time.UTC) {
		t.Errorf("period %d starts %v, want 12:00", n, got)
	}
}

func TestSRVRunAndBetween(t *testing.T) {
	day := time.Date(2026, 7, 27, 0, 0, 0, 0, time.UTC)
	for h := range 24 {
		va := day.Add(time.Duration(h) * time.Hour)
		if got := realNetwork.SRVRunStart(va); !got.Equal(day) {
			t.Errorf("SRVRunStart(%v) = %v, want midnight", va, got)
		}
		if got, want := realNetwork.BetweenTPAndSRV(va), h >= 12; got != want {
			t.Errorf("BetweenTPAndSRV(%02d:00) = %v, want %v", h, got, want)
		}
	}
	// Test network, 20 s voting: runs of 480 s, periods of 8 min offset 4 min.
	test := Schedule{VotingInterval: 20, PeriodLength: 8}
	run := time.Unix(1785146400, 0).UTC() // a multiple of 480 s
	for i := range 24 {
		va := run.Add(time.Duration(i*20) * time.Second)
		if got := test.SRVRunStart(va); !got.Equal(run) {
			t.Errorf("test SRVRunStart(+%ds) = %v, want %v", i*20, got, run)
		}
		if got, want := test.BetweenTPAndSRV(va), i >= 12; got != want {
			t.Errorf("test BetweenTPAndSRV(+%ds) = %v, want %v", i*20, got, want)
		}
	}
}

func TestScheduleZeroValueDoesNotPanic(t *testing.T) {
	var s Schedule
	at := time.Unix(1785146400, 0)
	_ = s.PeriodNum(at)
	_ = s.PeriodStart(5)
	_ = s.SRVRunStart(at)
	_ = s.BetweenTPAndSRV(at)
	if got := s.PeriodNum(time.Unix(-100, 0)); got != 0 {
		t.Errorf("period of a pre-1970 time = %d, want 0", got)
	}
}

func TestDisasterSRVVectors(t *testing.T) {
	kv := loadKeyVectors(t)
	if len(kv.DisasterSRV.ByTimePeriod) != 5 {
		t.Fatalf("%d disaster SRV vectors, want 5", len(kv.DisasterSRV.ByTimePeriod))
	}
	for tpText, want := range kv.DisasterSRV.ByTimePeriod {
		tp, err := strconv.ParseUint(tpText, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		got := DisasterSRV(kv.DisasterSRV.PeriodLength, tp)
		if hexUpper(got[:]) != want {
			t.Errorf("DisasterSRV(%d, %d) = %X, want %s", kv.DisasterSRV.PeriodLength, tp, got, want)
		}
	}
}

func TestIndexVectors(t *testing.T) {
	kv := loadKeyVectors(t)
	v := kv.HSIndexes
	key, srv := hex32(t, v.Key), hex32(t, v.SRV)
	if got := HSIndex(key, v.Replica, v.PeriodNum, v.PeriodLength); got != hex32(t, v.HSIndex) {
		t.Errorf("HSIndex = %x, want %s", got, v.HSIndex)
	}
	if got := HSDirIndex(key, srv, v.PeriodNum, v.PeriodLength); got != hex32(t, v.HSDirIndex) {
		t.Errorf("HSDirIndex = %x, want %s", got, v.HSDirIndex)
	}
	// The two field orders differ: swapping period and length must matter.
	if HSIndex(key, v.Replica, v.PeriodLength, v.PeriodNum) == hex32(t, v.HSIndex) {
		t.Error("HSIndex ignores the order of period and length")
	}
}
