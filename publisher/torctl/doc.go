// Package torctl is the only code in obcluster that speaks the Tor control protocol.
//
// A Client keeps two authenticated control connections to the local tor: one carries commands
// (GETINFO, SIGNAL, HSFETCH, HSPOST) and the other carries nothing but asynchronous events
// (HS_DESC, HS_DESC_CONTENT, STATUS_CLIENT, NEWCONSENSUS). The event connection is read by its own
// goroutine, which parses each event into a typed value and hands it to a bounded queue that never
// blocks the reader; the queue feeds the channel returned by Events. When either connection drops
// (tor restarted, socket closed, a command left unanswered for Config.RequestTimeout) both are torn
// down and re-established with exponential backoff, then a Reconnected event tells the consumer to
// refresh the consensus and fetch again.
//
// The framing of replies comes from github.com/cretz/bine/control; commands that bine gets wrong or
// does not offer are written here: HSFETCH with several SERVER= arguments, and HSPOST, whose bine
// helper omits a space before HSADDRESS=, does no dot-escaping and uses the descriptor as a format
// string. Without HSADDRESS= tor ≥ 0.4.5 never answers an HSPOST, so PostDescriptor always sends it.
//
// Typical use:
//
//	c, err := torctl.New(cfg)
//	go c.Run(ctx)
//	if err := c.WaitReady(ctx); err != nil { ... }
//	for ev := range c.Events() {
//		switch ev := ev.(type) {
//		case torctl.Reconnected, torctl.ConsensusArrived:
//			consensus, err := c.Consensus(ctx)
//			...
//		case torctl.DescReceived:
//			...
//		}
//	}
//
// SocksForProbes finds or opens (GETCONF, SETCONF SocksPort, GETINFO net/listeners/socks) the
// loopback SocksPort with ExtendedErrors that health probes (package publisher/health/socksprobe)
// connect through.
//
// Package torctltest provides an in-process fake control port for unit tests of callers.
package torctl
