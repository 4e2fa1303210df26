package hashring

import (
	"strconv"
	"strings"
)

// supportsProtocol reports whether a "pr" line's arguments (entries such as
// "HSDir=2" or "Link=1-5,7") list version ver of protocol name.
// Malformed entries count as "not supported", as in tor, where an invalid
// protocol list leaves every summary flag false.
func supportsProtocol(args []string, name string, ver uint32) bool {
	for _, entry := range args {
		proto, versions, ok := strings.Cut(entry, "=")
		if !ok || proto != name {
			continue
		}
		for r := range strings.SplitSeq(versions, ",") {
			lo, hi, ok := parseVersionRange(r)
			if ok && lo <= ver && ver <= hi {
				return true
			}
		}
	}
	return false
}

// parseVersionRange parses "N" or "N-M".
func parseVersionRange(r string) (lo, hi uint32, ok bool) {
	a, b, isRange := strings.Cut(r, "-")
	l, err := strconv.ParseUint(a, 10, 32)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return uint32(l), uint32(l), true
	}
	h, err := strconv.ParseUint(b, 10, 32)
	if err != nil || h < l {
		return 0, 0, false
	}
	return uint32(l), uint32(h), true
}
