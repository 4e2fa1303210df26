package testnet

import (
	"slices"
	"strings"
	"testing"
)

// commonOptions are the lines every torrc must carry
// (research/private-tor-network.md, "Options in every torrc").
var commonOptions = []string{
	"TestingTorNetwork 1",
	"AssumeReachable 1",
	"PathsNeededToBuildCircuits 0.67",
	"TestingDirAuthVoteExit *",
	"TestingDirAuthVoteHSDir *",
	"TestingDirAuthVoteGuard *",
	"TestingMinExitFlagThreshold 0",
	"V3AuthNIntervalsValid 2",
	"UseDefaultFallbackDirs 0",
	"ClientUseIPv6 0",
	"CookieAuthentication 1",
}

func torrcLines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}

func TestRenderTorrcRoles(t *testing.T) {
	auths := []authorityEntry{
		{Nickname: "auth1", ORPort: 5001, DirPort: 5002, V3Ident: "AAAA", Fingerprint: "BBBB"},
		{Nickname: "auth2", ORPort: 5011, DirPort: 5012, V3Ident: "CCCC", Fingerprint: "DDDD"},
	}
	base := torrcConfig{DataDir: "/d", LogFile: "/d/notice.log", ControlPort: 6000, Authorities: auths}
	cases := []struct {
		name    string
		mod     func(*torrcConfig)
		want    []string
		notWant []string
	}{
		{
			name: "authority",
			mod: func(c *torrcConfig) {
				c.Role, c.Nickname, c.ORPort, c.DirPort = RoleAuthority, "auth1", 5001, 5002
			},
			want: []string{"Nickname auth1", "ORPort 127.0.0.1:5001", "DirPort 127.0.0.1:5002", "Address 127.0.0.1",
				"AddressDisableIPv6 1", "AuthoritativeDirectory 1", "V3AuthoritativeDirectory 1",
				"TestingV3AuthInitialVotingInterval 20", "V3AuthVotingInterval 20", "V3AuthVoteDelay 4", "V3AuthDistDelay 4",
				"SocksPort 0"},
		},
		{
			name:    "relay",
			mod:     func(c *torrcConfig) { c.Role, c.Nickname, c.ORPort, c.DirPort = RoleRelay, "relay1", 5101, 5102 },
			want:    []string{"Nickname relay1", "ORPort 127.0.0.1:5101", "DirPort 127.0.0.1:5102", "ExitPolicy reject *:*"},
			notWant: []string{"AuthoritativeDirectory 1"},
		},
		{
			name:    "client",
			mod:     func(c *torrcConfig) { c.Role, c.SocksPort, c.OwnerPID, c.NumCPUs = RoleClient, 7000, 42, 1 },
			want:    []string{"SocksPort 127.0.0.1:7000", "__OwningControllerProcess 42", "NumCPUs 1"},
			notWant: []string{"ORPort 127.0.0.1:0", "AuthoritativeDirectory 1"},
		},
		{
			name: "onion service, OnionBalance instance",
			mod: func(c *torrcConfig) {
				c.Role = RoleOnionService
				c.Service = &hiddenService{Dir: "/d/hs", VirtPort: 80, Target: "127.0.0.1:8080", OBInstance: true}
			},
			want: []string{"SocksPort 0", "HiddenServiceDir /d/hs", "HiddenServicePort 80 127.0.0.1:8080",
				"HiddenServiceOnionBalanceInstance 1"},
			notWant: []string{"__OwningControllerProcess 0", "NumCPUs 0"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.mod(&cfg)
			lines := torrcLines(renderTorrc(cfg))
			want := append(slices.Clone(commonOptions), c.want...)
			want = append(want,
				"DataDirectory /d", "ControlPort 127.0.0.1:6000", "Log notice file /d/notice.log",
				"DirAuthority auth1 orport=5001 no-v2 v3ident=AAAA 127.0.0.1:5002 BBBB",
				"DirAuthority auth2 orport=5011 no-v2 v3ident=CCCC 127.0.0.1:5012 DDDD")
			for _, w := range want {
				if !slices.Contains(lines, w) {
					t.Errorf("torrc lacks %q:\n%s", w, strings.Join(lines, "\n"))
				}
			}
			for _, nw := range c.notWant {
				if slices.Contains(lines, nw) {
					t.Errorf("torrc has %q", nw)
				}
			}
			seen := map[string]bool{}
			for _, l := range lines {
				key := strings.Fields(l)[0]
				if key != "DirAuthority" && key != "#" && seen[key] {
					t.Errorf("option %s set twice", key)
				}
				seen[key] = true
			}
		})
	}
}

func TestRenderTorrcPlainServiceHasNoInstanceMode(t *testing.T) {
	s := renderTorrc(torrcConfig{Role: RoleOnionService, Service: &hiddenService{Dir: "/hs", VirtPort: 80, Target: "127.0.0.1:1"}})
	if strings.Contains(s, "OnionBalanceInstance") {
		t.Fatalf("plain service torrc has instance mode:\n%s", s)
	}
}
