package hashring

import "time"

// Schedule is the time-period arithmetic of a Tor network. Tor derives all
// of it from the consensus: the voting interval (fresh-until − valid-after)
// and the time-period length.
//
// The zero value is not useful; get one from Consensus.Schedule or fill both
// fields. Out-of-range values (zero) are treated as 1 so that no method can
// divide by zero.
type Schedule struct {
	// VotingInterval in whole seconds: 3600 on the real network.
	VotingInterval uint64
	// PeriodLength is the time-period length in minutes: 1440 on the
	// real network.
	PeriodLength uint64
}

// srRounds is the number of voting rounds in one shared-random phase
// (SHARED_RANDOM_N_ROUNDS); a protocol run has two phases.
const srRounds = 12

// Schedule returns the consensus's schedule.
//
// The period length is the hsdir_interval param on a real network. Tor uses
// 24 voting intervals instead (one SRV protocol run, get_time_period_length)
// when its TestingTorNetwork option is set, which a controller cannot see:
// Consensus.TestNetwork carries that decision (see its comment).
func (c *Consensus) Schedule() Schedule {
	vi := uint64(max(c.VotingInterval()/time.Second, 1))
	length := c.HSDirInterval()
	if c.TestNetwork {
		length = max(2*srRounds*vi/60, 1)
	}
	return Schedule{VotingInterval: vi, PeriodLength: length}
}

func (s Schedule) vi() uint64     { return max(s.VotingInterval, 1) }
func (s Schedule) length() uint64 { return max(s.PeriodLength, 1) }

// offset is the time-period rotation offset in seconds: one SR phase, so
// that real-network periods start at 12:00 UTC (sr_state_get_phase_duration).
func (s Schedule) offset() uint64 { return srRounds * s.vi() }

// unixSeconds returns t as seconds since the epoch, 0 for earlier times.
func unixSeconds(t time.Time) uint64 { return uint64(max(t.Unix(), 0)) }

// PeriodNum returns the number of the time period containing t
// (hs_get_time_period_num): periods are counted in minutes since the epoch,
// shifted by the rotation offset.
func (s Schedule) PeriodNum(t time.Time) uint64 {
	minutes := unixSeconds(t) / 60
	off := s.offset() / 60
	if minutes < off {
		return 0
	}
	return (minutes - off) / s.length()
}

// PeriodStart returns the start of time period n
// (as in hs_get_start_time_of_next_time_period).
func (s Schedule) PeriodStart(n uint64) time.Time {
	return time.Unix(int64(n*s.length()*60+s.offset()), 0).UTC()
}

// SRVRunStart returns the start of the shared-random protocol run that
// contains validAfter (sr_state_get_start_time_of_current_protocol_run):
// 00:00 UTC on the real network. The previous run started 24 voting
// intervals earlier.
func (s Schedule) SRVRunStart(validAfter time.Time) time.Time {
	va := unixSeconds(validAfter)
	vi := s.vi()
	slot := (va / vi) % (2 * srRounds)
	return time.Unix(int64(va-slot*vi), 0).UTC()
}

// BetweenTPAndSRV reports whether validAfter falls after the start of a
// time period and before the next SRV run starts (hs_in_period_between_tp_and_srv):
// 12:00 to 24:00 UTC on the real network. Like tor, it compares with the
// start of the period following the one the current SRV run began in.
func (s Schedule) BetweenTPAndSRV(validAfter time.Time) bool {
	srvStart := s.SRVRunStart(validAfter)
	tpStart := s.PeriodStart(s.PeriodNum(srvStart) + 1)
	inSRVToTP := !validAfter.Before(srvStart) && validAfter.Before(tpStart)
	return !inSRVToTP
}
