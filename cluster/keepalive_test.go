package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/obcluster/obcluster/internal/clock"
	"github.com/obcluster/obcluster/store/storetest"
)

// stepClock is a clock whose Now only moves when step is called; its timers
// are real (the election's retries wait on them against a real etcd).
type stepClock struct {
	clock.Real
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lateReplies returns gRPC interceptors that move clock forward by delay
// whenever a lease grant or keepalive reply arrives: on the fake clock, every
// reply of the lease service comes delay after its request was sent.
func lateReplies(clk *stepClock, delay time.Duration) []grpc.DialOption {
	const grant, keepAlive = "/etcdserverpb.Lease/LeaseGrant", "/etcdserverpb.Lease/LeaseKeepAlive"
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if method == grant {
			clk.step(delay)
		}
		return err
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil || method != keepAlive {
			return s, err
		}
		return &lateStream{ClientStream: s, clock: clk, delay: delay}, nil
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream)}
}

type lateStream struct {
	grpc.ClientStream
	clock *stepClock
	delay time.Duration
}

func (s *lateStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.clock.step(s.delay)
	}
	return err
}

// The self-fencing deadline counts from when a keepalive was sent, not from
// when its reply arrived: etcd renewed the lease at some moment after the
// send, so send time + TTL is a lower bound of the lease's expiry, while
// receive time + TTL can lie past it. With every reply arriving 3 s after its
// request (on the injected clock), the deadline must stay at least 3 s
// before "now + TTL - margin".
func TestSelfFenceDeadlineCountsFromKeepAliveSend(t *testing.T) {
	const delay = 3 * time.Second
	clk := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   storetest.Single(t),
		DialTimeout: 5 * time.Second,
		DialOptions: lateReplies(clk, delay),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })

	cfg := testConfig("a")
	cfg.Clock = clk
	a := startCandidate(t, cli, testKeys(t, "/ob"), cfg)
	epoch := a.waitLeader(t, 10*time.Second).Epoch
	f, err := a.el.Fence(epoch)
	if err != nil {
		t.Fatal(err)
	}
	// The bound every answered request obeys: sent at least delay before now.
	bound := func() time.Time { return clk.Now().Add(-delay).Add(cfg.TTL - cfg.Margin) }
	first := f.ValidUntil()
	if first.After(bound()) {
		t.Fatalf("deadline after the grant = %v, later than sent + ttl - margin = %v", first, bound())
	}
	// Wait for keepalive replies to move the deadline on, twice.
	seen := first
	for moves := 0; moves < 2; {
		deadline := time.Now().Add(3 * cfg.TTL)
		for f.ValidUntil().Equal(seen) {
			if time.Now().After(deadline) {
				t.Fatalf("no keepalive moved the deadline on within %v (still %v)", 3*cfg.TTL, seen)
			}
			time.Sleep(10 * time.Millisecond)
		}
		seen = f.ValidUntil()
		if b := bound(); seen.After(b) {
			t.Fatalf("deadline %v is later than the send time of any answered keepalive + ttl - margin (%v): "+
				"it counts from the reply", seen, b)
		}
		moves++
	}
}
