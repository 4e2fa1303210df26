package testnet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// ErrTorMissing is returned when the tor or tor-gencert binary cannot be found.
var ErrTorMissing = errors.New("testnet: tor binary not found")

// ErrTorTooOld is returned when tor is older than MinTorVersion.
var ErrTorTooOld = errors.New("testnet: tor is too old")

// MinTorVersion is the oldest tor that supports OnionBalance instance mode
// (HiddenServiceOnionBalanceInstance, 0.4.4.1).
var MinTorVersion = TorVersion{0, 4, 4, 1}

// TorVersion is a tor release number: major.minor.micro.patch.
type TorVersion [4]int

// String formats v as tor does, e.g. "0.4.9.11".
func (v TorVersion) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v[0], v[1], v[2], v[3])
}

// Less reports whether v is an older release than w.
func (v TorVersion) Less(w TorVersion) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

var torVersionRE = regexp.MustCompile(`Tor version (\d+)\.(\d+)\.(\d+)\.(\d+)`)

// ParseTorVersion extracts the release number from the output of
// `tor --version`, e.g. "Tor version 0.4.9.11." or "Tor version 0.4.8.10 (git-…)".
func ParseTorVersion(out string) (TorVersion, error) {
	m := torVersionRE.FindStringSubmatch(out)
	if m == nil {
		return TorVersion{}, fmt.Errorf("testnet: no \"Tor version a.b.c.d\" in tor --version output %q", firstLine(out))
	}
	var v TorVersion
	for i := range v {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return TorVersion{}, fmt.Errorf("testnet: tor version field %q: %w", m[i+1], err)
		}
		v[i] = n
	}
	return v, nil
}

// Binaries are the tor programs a network needs.
type Binaries struct {
	Tor        string     // absolute path of tor
	TorGencert string     // absolute path of tor-gencert
	Version    TorVersion // tor's release number
}

// FindBinaries locates tor and tor-gencert (given paths, or looked up in PATH
// when empty) and checks that tor is at least MinTorVersion.
// It wraps ErrTorMissing or ErrTorTooOld so callers can branch.
func FindBinaries(ctx context.Context, torPath, gencertPath string) (Binaries, error) {
	if torPath == "" {
		torPath = "tor"
	}
	if gencertPath == "" {
		gencertPath = "tor-gencert"
	}
	tor, err := exec.LookPath(torPath)
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: %q: %v (install the Debian package tor, or run deploy/install-deps.sh)", ErrTorMissing, torPath, err)
	}
	gencert, err := exec.LookPath(gencertPath)
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: %q: %v (it ships with the Debian package tor)", ErrTorMissing, gencertPath, err)
	}
	out, err := exec.CommandContext(ctx, tor, "--version").Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("testnet: %s --version: %w", tor, err)
	}
	v, err := ParseTorVersion(string(out))
	if err != nil {
		return Binaries{}, err
	}
	if v.Less(MinTorVersion) {
		return Binaries{}, fmt.Errorf("%w: %s is %s, need at least %s", ErrTorTooOld, tor, v, MinTorVersion)
	}
	return Binaries{Tor: tor, TorGencert: gencert, Version: v}, nil
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
