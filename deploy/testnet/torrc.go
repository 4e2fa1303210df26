package testnet

import (
	"fmt"
	"strings"
)

// VotingInterval is the directory authorities' voting interval in seconds.
// With TestingTorNetwork, the onion-service time period is 24*VotingInterval/60
// minutes (8 minutes here).
const VotingInterval = 20

// authorityEntry is one DirAuthority line, listed in every torrc.
type authorityEntry struct {
	Nickname    string
	ORPort      int
	DirPort     int
	V3Ident     string // fingerprint of the authority certificate (tor-gencert)
	Fingerprint string // relay identity fingerprint (tor --list-fingerprint)
}

func (a authorityEntry) line() string {
	return fmt.Sprintf("DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
		a.Nickname, a.ORPort, a.V3Ident, a.DirPort, a.Fingerprint)
}

// hiddenService is the single onion service an onion-service tor hosts.
type hiddenService struct {
	Dir        string // HiddenServiceDir
	VirtPort   int    // port clients connect to
	Target     string // host:port the service forwards to
	OBInstance bool   // HiddenServiceOnionBalanceInstance 1
}

// torrcConfig is everything that differs between the torrcs of a network.
type torrcConfig struct {
	Role        Role
	Nickname    string // relays and authorities
	DataDir     string
	LogFile     string
	ControlPort int
	ORPort      int // relays and authorities
	DirPort     int // relays and authorities
	SocksPort   int // 0 writes "SocksPort 0"
	Authorities []authorityEntry
	Service     *hiddenService
	OwnerPID    int // when > 0, tor exits once this process is gone
	NumCPUs     int // when > 0, limits tor's worker threads
}

// renderTorrc returns the torrc for c. The option set follows
// /work/shared/research/private-tor-network.md ("Options in every torrc").
func renderTorrc(c torrcConfig) string {
	var b strings.Builder
	add := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
	}
	add("# Written by deploy/testnet; role %s.", c.Role)
	add("TestingTorNetwork 1")
	add("AssumeReachable 1")
	add("PathsNeededToBuildCircuits 0.67")
	add("TestingDirAuthVoteExit *")
	add("TestingDirAuthVoteHSDir *")
	add("TestingDirAuthVoteGuard *")
	add("TestingMinExitFlagThreshold 0")
	add("V3AuthNIntervalsValid 2")
	add("UseDefaultFallbackDirs 0")
	add("ClientUseIPv6 0")
	add("DataDirectory %s", c.DataDir)
	add("ControlPort 127.0.0.1:%d", c.ControlPort)
	add("CookieAuthentication 1")
	add("Log notice file %s", c.LogFile)
	if c.NumCPUs > 0 {
		add("NumCPUs %d", c.NumCPUs)
	}
	if c.OwnerPID > 0 {
		add("__OwningControllerProcess %d", c.OwnerPID)
	}
	for _, a := range c.Authorities {
		add("%s", a.line())
	}

	switch c.Role {
	case RoleAuthority, RoleRelay:
		add("Nickname %s", c.Nickname)
		add("SocksPort 0")
		add("ORPort 127.0.0.1:%d", c.ORPort)
		add("DirPort 127.0.0.1:%d", c.DirPort)
		add("Address 127.0.0.1")
		add("AddressDisableIPv6 1")
		add("ExitPolicy reject *:*")
	default:
		if c.SocksPort > 0 {
			add("SocksPort 127.0.0.1:%d", c.SocksPort)
		} else {
			add("SocksPort 0")
		}
	}
	if c.Role == RoleAuthority {
		add("AuthoritativeDirectory 1")
		add("V3AuthoritativeDirectory 1")
		add("TestingV3AuthInitialVotingInterval %d", VotingInterval)
		add("TestingV3AuthInitialVoteDelay 4")
		add("TestingV3AuthInitialDistDelay 4")
		add("V3AuthVotingInterval %d", VotingInterval)
		add("V3AuthVoteDelay 4")
		add("V3AuthDistDelay 4")
	}
	if s := c.Service; s != nil {
		add("HiddenServiceDir %s", s.Dir)
		add("HiddenServicePort %d %s", s.VirtPort, s.Target)
		if s.OBInstance {
			add("HiddenServiceOnionBalanceInstance 1")
		}
	}
	return b.String()
}
