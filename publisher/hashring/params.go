package hashring

import "math"

// Consensus parameters used by onion services, with tor's defaults and
// bounds (hs_common.c, hs_descriptor.c, param-spec).
const (
	ParamHSDirNReplicas    = "hsdir_n_replicas"
	ParamHSDirSpreadStore  = "hsdir_spread_store"
	ParamHSDirSpreadFetch  = "hsdir_spread_fetch"
	ParamHSDirInterval     = "hsdir_interval"
	ParamMaxDescriptorSize = "HSV3MaxDescriptorSize"
)

// Param returns the consensus parameter name, or def when the consensus does
// not set it, clamped to [min, max] as tor's networkstatus_get_param does.
func (c *Consensus) Param(name string, def, min, max int32) int32 {
	v, ok := c.Params[name]
	if !ok {
		v = def
	}
	if v < min {
		return min
	}
	if v > max {
		return max
	}
	return v
}

// HSDirNReplicas is the number of hash-ring replicas per descriptor
// (default 2, range [1, 16]).
func (c *Consensus) HSDirNReplicas() int {
	return int(c.Param(ParamHSDirNReplicas, 2, 1, 16))
}

// HSDirSpreadStore is the number of HSDirs a service uploads to per replica
// (default 4, range [1, 128]).
func (c *Consensus) HSDirSpreadStore() int {
	return int(c.Param(ParamHSDirSpreadStore, 4, 1, 128))
}

// HSDirSpreadFetch is the number of HSDirs per replica a client picks from
// when fetching (default 3, range [1, 128]).
func (c *Consensus) HSDirSpreadFetch() int {
	return int(c.Param(ParamHSDirSpreadFetch, 3, 1, 128))
}

// HSDirInterval is the time-period length in minutes on a real network
// (default 1440, range [30, 14400]). Test networks ignore it: see Schedule.
func (c *Consensus) HSDirInterval() uint64 {
	return uint64(c.Param(ParamHSDirInterval, 1440, 30, 14400))
}

// MaxDescriptorSize is the largest descriptor, in bytes, that HSDirs accept
// (default 50000, range [1, 2^31-1]).
func (c *Consensus) MaxDescriptorSize() int {
	return int(c.Param(ParamMaxDescriptorSize, 50000, 1, math.MaxInt32))
}
