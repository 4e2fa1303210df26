package testnet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Readiness is what a tor's control port says about its view of the network.
type Readiness struct {
	Bootstrap int // bootstrap progress, 0..100
	HSDirs    int // relays with the HSDir flag in its microdesc consensus
	Relays    int // relays in its microdesc consensus
}

// parseBootstrapProgress reads PROGRESS=N from a status/bootstrap-phase value,
// e.g. "NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"".
func parseBootstrapProgress(phase string) (int, error) {
	for f := range strings.FieldsSeq(phase) {
		v, ok := strings.CutPrefix(f, "PROGRESS=")
		if !ok {
			continue
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 100 {
			return 0, fmt.Errorf("testnet: bad PROGRESS %q in bootstrap phase %q", v, phase)
		}
		return p, nil
	}
	return 0, fmt.Errorf("testnet: no PROGRESS= in bootstrap phase %q", phase)
}

// countConsensusFlags counts the router entries ("r " lines) of a consensus
// document and, among them, those whose "s " line has the HSDir flag.
func countConsensusFlags(consensus string) (relays, hsdirs int) {
	for line := range strings.SplitSeq(consensus, "\n") {
		switch {
		case strings.HasPrefix(line, "r "):
			relays++
		case strings.HasPrefix(line, "s "):
			for _, flag := range strings.Fields(line)[1:] {
				if flag == "HSDir" {
					hsdirs++
					break
				}
			}
		}
	}
	return relays, hsdirs
}

// prober asks one tor, over a control connection it keeps open between
// probes, for its Readiness. It redials after any error.
type prober struct {
	addr, cookie string
	conn         *controlConn
}

// probe returns the tor's bootstrap progress and its consensus's HSDir count.
// A tor without a consensus yet has zero HSDirs, not an error.
func (p *prober) probe(ctx context.Context) (Readiness, error) {
	if p.conn == nil {
		c, err := dialControl(ctx, p.addr, p.cookie)
		if err != nil {
			return Readiness{}, err
		}
		p.conn = c
	}
	r, err := readiness(ctx, p.conn)
	if err != nil && !errors.Is(err, ErrControl) {
		p.Close()
	}
	return r, err
}

// Close closes the control connection, if any.
func (p *prober) Close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

func readiness(ctx context.Context, c *controlConn) (Readiness, error) {
	phase, err := c.getInfo(ctx, "status/bootstrap-phase")
	if err != nil {
		return Readiness{}, err
	}
	var r Readiness
	if r.Bootstrap, err = parseBootstrapProgress(phase); err != nil {
		return Readiness{}, err
	}
	consensus, err := c.getInfo(ctx, "dir/status-vote/current/consensus-microdesc")
	if errors.Is(err, ErrControl) {
		return r, nil // 551: no consensus yet
	}
	if err != nil {
		return Readiness{}, err
	}
	r.Relays, r.HSDirs = countConsensusFlags(consensus)
	return r, nil
}
