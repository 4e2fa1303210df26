// Package hashring turns a Tor consensus and its microdescriptors into the
// facts an onion-service publisher needs: the time periods and shared random
// values (SRVs) of the two descriptors it must keep published, and the
// hidden-service directories (HSDirs) responsible for each of them.
//
// The package is pure: it does no I/O and never reads the system clock. Every
// time calculation starts from the consensus valid-after time, as tor does,
// and callers pass "now" where it is needed.
//
// Typical use, once per consensus:
//
//	c, err := hashring.ParseConsensus(consensusText) // GETINFO dir/status-vote/current/consensus-microdesc
//	mds, err := hashring.ParseMicrodescs(mdText)     // GETINFO md/all
//	c.AttachMicrodescs(mds)
//	for _, tp := range c.TimePeriods() {
//		ring := hashring.NewRing(c, tp)
//		for _, key := range blindedKeys {            // blinded for tp.Period
//			dirs := ring.Responsible(key)            // HSPOST SERVER=dirs[i].Fingerprint
//		}
//	}
//
// To fetch another service's current descriptor, use the ring of
// c.ClientTimePeriod() and its FetchSet.
//
// Test networks: tor shortens time periods to 24 voting intervals when its
// TestingTorNetwork option is set. A controller cannot read that option, so
// ParseConsensus assumes a test network when the voting interval
// (fresh-until − valid-after) is under an hour; Consensus.TestNetwork holds
// that guess and may be overridden.
//
// The formulas follow C tor (hs_common.c, nodelist.c, shared_random_client.c)
// rather than the specification where the two differ; the doc comment of each
// function says which tor function it mirrors.
package hashring
