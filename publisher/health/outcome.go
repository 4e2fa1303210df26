package health

import "fmt"

// Outcome is the result of one probe.
type Outcome string

// Probe outcomes. The SOCKS ones follow tor's SOCKS5 replies: with ExtendedErrors on its SocksPort,
// tor reports onion-service failures as reply codes 0xF0 to 0xF7.
const (
	// Connected: the stream to the backend's port opened. Alive.
	Connected Outcome = "connected"
	// Answered: the backend's tor answered after the rendezvous but did not open the stream (port
	// refused or not served, network or host unreachable on its side). Alive.
	Answered Outcome = "answered"
	// DescNotFound (F0): no HSDir had the backend's descriptor. Dead.
	DescNotFound Outcome = "descriptor-not-found"
	// DescInvalid (F1): the descriptor could not be parsed or verified. Dead.
	DescInvalid Outcome = "descriptor-invalid"
	// IntroFailed (F2): every introduction point failed. Dead.
	IntroFailed Outcome = "intro-failed"
	// RendFailed (F3): the rendezvous did not complete. Dead.
	RendFailed Outcome = "rendezvous-failed"
	// IntroTimeout (F7): introduction timed out. Dead.
	IntroTimeout Outcome = "intro-timeout"
	// Timeout: tor gave no reply within the probe timeout, or gave up itself (0x06 TTL expired).
	// Dead (a prober that sees nothing alive in a round does not count: see Judge).
	Timeout Outcome = "timeout"
	// AuthMissing (F4), AuthBad (F5): the backend needs client authorization; its tor did publish
	// a descriptor. Inconclusive.
	AuthMissing Outcome = "auth-missing"
	AuthBad     Outcome = "auth-bad"
	// BadAddress (F6): tor refused the address. Inconclusive (a configuration error).
	BadAddress Outcome = "bad-address"
	// Failed: another SOCKS failure (general failure, ...). Inconclusive.
	Failed Outcome = "failed"
	// ProberError: the probe could not be made on this side (no SOCKS listener, tor not ready).
	// Inconclusive.
	ProberError Outcome = "prober-error"
)

// Evidence is what an outcome says about the backend.
type Evidence int

// Evidence values.
const (
	Inconclusive Evidence = iota
	Alive
	Dead
)

func (e Evidence) String() string {
	switch e {
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	}
	return "inconclusive"
}

// Evidence returns what o says about the backend. Unknown outcomes are Inconclusive.
func (o Outcome) Evidence() Evidence {
	switch o {
	case Connected, Answered:
		return Alive
	case DescNotFound, DescInvalid, IntroFailed, RendFailed, IntroTimeout, Timeout:
		return Dead
	}
	return Inconclusive
}

// FromSOCKS maps a SOCKS5 reply code (RFC 1928 and tor's extended errors) to an outcome.
func FromSOCKS(code byte) Outcome {
	switch code {
	case 0x00:
		return Connected
	case 0x02, 0x03, 0x04, 0x05:
		// not allowed (tor: the service closed a stream to a port it does not serve), network or
		// host unreachable, refused: all sent by the backend's tor after the rendezvous.
		return Answered
	case 0x06:
		// TTL expired: tor's own connection timeout (SocksTimeout, 2 min), as when an introduction
		// point acknowledges a dead service's introduction and the rendezvous never comes.
		return Timeout
	case 0xF0:
		return DescNotFound
	case 0xF1:
		return DescInvalid
	case 0xF2:
		return IntroFailed
	case 0xF3:
		return RendFailed
	case 0xF4:
		return AuthMissing
	case 0xF5:
		return AuthBad
	case 0xF6:
		return BadAddress
	case 0xF7:
		return IntroTimeout
	}
	return Failed
}

// SOCKSDetail names a SOCKS5 reply code for logs and status ("0xf2 onion service introduction failed").
func SOCKSDetail(code byte) string {
	names := map[byte]string{
		0x00: "succeeded", 0x01: "general failure", 0x02: "not allowed", 0x03: "network unreachable",
		0x04: "host unreachable", 0x05: "connection refused", 0x06: "TTL expired", 0x07: "command not supported",
		0x08: "address type not supported",
		0xF0: "onion service descriptor not found", 0xF1: "onion service descriptor invalid",
		0xF2: "onion service introduction failed", 0xF3: "onion service rendezvous failed",
		0xF4: "onion service missing client authorization", 0xF5: "onion service wrong client authorization",
		0xF6: "onion service invalid address", 0xF7: "onion service introduction timed out",
	}
	if n, ok := names[code]; ok {
		return fmt.Sprintf("%#02x %s", code, n)
	}
	return fmt.Sprintf("%#02x unknown reply", code)
}
