package hashring

// TimePeriod names one descriptor's place in time: the time period it is
// blinded for, that period's length and the SRV that shapes its hash ring.
type TimePeriod struct {
	Period       uint64   // time-period number
	PeriodLength uint64   // minutes
	SRV          [32]byte // shared random value for the ring
}

// TimePeriods returns the time periods of the two descriptors a service keeps published
// (tor's node_set_hsdir_index store indexes and
// build_descriptors_for_new_service; OnionBalance's "first" and "second"):
//
//	                         first (tor: current)      second (tor: next)
//	between SRV and TP       period tp,   previous SRV  period tp+1, current SRV
//	between TP and SRV       period tp-1, previous SRV  period tp,   current SRV
//
// where tp is the period of valid-after and "between TP and SRV" is
// Schedule.BetweenTPAndSRV (12:00 to 24:00 UTC on the real network). A
// missing SRV is replaced by the disaster SRV of that period.
func (c *Consensus) TimePeriods() [2]TimePeriod {
	sched := c.Schedule()
	tp := sched.PeriodNum(c.ValidAfter)
	first, second := tp, tp+1
	if sched.BetweenTPAndSRV(c.ValidAfter) {
		first, second = tp-1, tp
	}
	return [2]TimePeriod{
		c.timePeriod(sched, first, c.PreviousSRV),
		c.timePeriod(sched, second, c.CurrentSRV),
	}
}

// ClientTimePeriod returns the time period a tor client uses right now to fetch a
// service's descriptor (node_set_hsdir_index fetch index): the period of
// valid-after, with the current SRV between TP and SRV and the previous SRV
// otherwise. Use it to fetch backend descriptors.
func (c *Consensus) ClientTimePeriod() TimePeriod {
	sched := c.Schedule()
	tp := sched.PeriodNum(c.ValidAfter)
	if sched.BetweenTPAndSRV(c.ValidAfter) {
		return c.timePeriod(sched, tp, c.CurrentSRV)
	}
	return c.timePeriod(sched, tp, c.PreviousSRV)
}

func (c *Consensus) timePeriod(sched Schedule, period uint64, srv *[32]byte) TimePeriod {
	s := TimePeriod{Period: period, PeriodLength: sched.length()}
	if srv != nil {
		s.SRV = *srv
	} else {
		s.SRV = DisasterSRV(s.PeriodLength, period)
	}
	return s
}
