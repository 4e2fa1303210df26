package clock

import (
	"context"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fired(c <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-c:
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestFakeTimerFiresWhenTimePasses(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(10 * time.Second)
	f.Advance(9 * time.Second)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("timer fired before its deadline")
	}
	f.Advance(5 * time.Second)
	at, ok := fired(tm.C())
	if !ok || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("timer: fired %v at %v, want at t0+10s", ok, at)
	}
	if got := f.Now(); !got.Equal(t0.Add(14 * time.Second)) {
		t.Errorf("Now = %v, want t0+14s", got)
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported it armed")
	}
	if tm.Reset(time.Second) {
		t.Error("Reset of a fired timer reported it armed")
	}
	if !tm.Stop() {
		t.Error("Stop of a re-armed timer reported it not armed")
	}
	f.Advance(time.Hour)
	if _, ok := fired(tm.C()); ok {
		t.Error("a stopped timer fired")
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}

func TestFakeTickerDropsUnreadTicks(t *testing.T) {
	f := NewFake(t0)
	tk := f.NewTicker(time.Second)
	f.Advance(5 * time.Second) // five ticks, one buffered
	if at, ok := fired(tk.C()); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("first tick: %v %v, want t0+1s", ok, at)
	}
	if _, ok := fired(tk.C()); ok {
		t.Fatal("ticks queued up")
	}
	f.Advance(time.Second)
	if at, ok := fired(tk.C()); !ok || !at.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("next tick: %v %v, want t0+6s", ok, at)
	}
	tk.Reset(time.Minute)
	f.Advance(59 * time.Second)
	if _, ok := fired(tk.C()); ok {
		t.Fatal("tick before the reset period")
	}
	f.Advance(time.Second)
	if _, ok := fired(tk.C()); !ok {
		t.Fatal("no tick after the reset period")
	}
	tk.Stop()
	f.Advance(time.Hour)
	if _, ok := fired(tk.C()); ok {
		t.Error("a stopped ticker ticked")
	}
}

func TestSleep(t *testing.T) {
	f := NewFake(t0)
	done := make(chan bool)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	for f.Waiters() == 0 {
		runtime.Gosched()
	}
	f.Advance(time.Minute)
	if !<-done {
		t.Error("Sleep reported a cut-short wait after the full minute passed")
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- Sleep(ctx, f, time.Minute) }()
	for f.Waiters() == 0 {
		runtime.Gosched()
	}
	cancel()
	if <-done {
		t.Error("Sleep reported a full wait after its context ended")
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("Sleep left %d timers armed", n)
	}
	if Sleep(ctx, nil, 0) {
		t.Error("Sleep on an ended context reported a full wait")
	}
	if !Sleep(context.Background(), nil, 0) {
		t.Error("Sleep(0) on the real clock reported a cut-short wait")
	}
}
