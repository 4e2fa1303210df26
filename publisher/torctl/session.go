package torctl

import (
	"errors"
	"net"
	"sync"

	"github.com/cretz/bine/control"
)

// session is one pair of authenticated control connections. It fails as a unit: whichever side
// breaks first closes both, so the run loop reconnects both.
type session struct {
	cmd *control.Conn // commands; set once the handshake is done
	ev  *control.Conn // events only; read by a single goroutine

	done chan struct{} // closed by fail

	// cmdLock (capacity 1: holding it means having sent a value) serialises commands. bine's
	// SendRequest writes the command before it takes its read lock and then waits for its turn in
	// textproto's pipeline while holding that lock, so two concurrent callers can deadlock: the later
	// one holds the lock waiting for the earlier one's reply, which the earlier one can never read.
	// It is a channel, not a mutex, so that a caller can stop waiting for it when its context ends.
	cmdLock chan struct{}

	mu     sync.Mutex
	conns  []net.Conn
	err    error
	failed bool
}

func newSession() *session {
	return &session{done: make(chan struct{}), cmdLock: make(chan struct{}, 1)}
}

// add registers a socket to close on failure. If the session already failed, it closes conn and
// returns the failure.
func (s *session) add(conn net.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		conn.Close()
		return s.err
	}
	s.conns = append(s.conns, conn)
	return nil
}

// fail records the first error, closes every socket (unblocking all readers and writers) and
// closes done. Later calls do nothing.
func (s *session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return
	}
	if err == nil {
		err = errors.New("closed")
	}
	s.failed, s.err = true, err
	for _, c := range s.conns {
		c.Close()
	}
	close(s.done)
}

// cause returns the error passed to the first fail, or nil while the session is up.
func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
