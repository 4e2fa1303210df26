// Package publishertest holds in-memory doubles of what a publisher.Manager talks to, for tests of the
// publisher and of the code that wires it (like torctltest and storetest):
//
//	network.go  Network: a synthetic consensus with n HSDirs and their microdescriptors
//	backend.go  Backend: a backend onion service with fresh intro points and its signed descriptor
//	tor.go      Tor: a publisher.Tor serving Network and the Backends' descriptors, recording uploads
//	serve.go    Serve: the same network and descriptors on a torctltest.Server (the real control protocol)
//	records.go  Records: an in-memory publisher.Records (unfenced)
//	leader.go   Leader: a publisher.Leadership the test switches
//
// For time, use internal/clock (clock.Fake, or clock.Real with a test's own Now).
// This package does not import publisher, so publisher's own tests can use it.
package publishertest
