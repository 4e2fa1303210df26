// Package socksprobe makes one health probe: a SOCKS5 CONNECT through tor to backend.onion:port,
// classified by tor's reply code (package health's Outcome). It is the I/O side of backend health;
// the decisions (Evidence, Judge, Exclude) stay in package health.
//
// Each probe is a fresh connection to tor's SocksPort with a fresh random username and password
// (RFC 1929), so tor's IsolateSOCKSAuth (on by default) builds it fresh circuits. The SocksPort must
// have ExtendedErrors: only then does tor report an onion service's failures as their own reply codes
// (0xF0 descriptor not found ... 0xF7 introduction timed out) instead of "general failure". On a
// reply the connection is closed at once: no byte is sent to the backend's service.
//
// Use (in the daemon):
//
//	addr, opened, err := torClient.SocksForProbes(ctx) // a loopback SocksPort with ExtendedErrors
//	p := &socksprobe.Prober{Addr: addr}                 // Rand nil: crypto/rand
//	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
//	r := p.Probe(ctx, backend, rules.Port)             // backend: 56 base32 characters, no ".onion"
//	cancel()
//	// r.Outcome.Evidence(), r.Latency, r.Detail go into the node's probe report.
//
// Probe never returns an error: a probe that could not be made (no listener, a broken SOCKS
// exchange, an invalid address) is health.ProberError, which is no evidence about the backend. A
// context that ends after tor accepted the request is health.Timeout; one that ends earlier is
// ProberError. A Prober is safe for concurrent use (the daemon bounds the concurrency).
//
// A SocksPort the daemon opened through the control port is gone after tor restarts or reloads
// its torrc (SIGHUP): probes then fail with ProberError ("connection refused"), and the daemon
// calls SocksForProbes again.
package socksprobe
