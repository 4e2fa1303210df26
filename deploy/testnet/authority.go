package testnet

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

var fingerprintRE = regexp.MustCompile(`^[0-9A-F]{40}$`)

// makeAuthorityKeys creates a directory authority's identity key, signing key
// and certificate in dataDir/keys with tor-gencert, and returns the v3ident
// (the certificate's fingerprint). The identity key is encrypted with a random
// passphrase that is thrown away: tor only needs the signing key and certificate.
func makeAuthorityKeys(ctx context.Context, bins Binaries, dataDir string, dirPort int) (string, error) {
	keys := filepath.Join(dataDir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	pass := make([]byte, 16)
	if _, err := rand.Read(pass); err != nil {
		return "", fmt.Errorf("testnet: passphrase: %w", err)
	}
	cert := filepath.Join(keys, "authority_certificate")
	cmd := exec.CommandContext(ctx, bins.TorGencert,
		"--create-identity-key", "-m", "12", "-a", loopback(dirPort),
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", cert,
		"--passphrase-fd", "0")
	cmd.Dir = keys
	cmd.Stdin = strings.NewReader(hex.EncodeToString(pass) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testnet: tor-gencert in %s: %w: %s", keys, err, strings.TrimSpace(string(out)))
	}
	return certFingerprint(cert)
}

// certFingerprint reads the "fingerprint" line of an authority certificate.
func certFingerprint(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fp, ok := strings.CutPrefix(s.Text(), "fingerprint "); ok && fingerprintRE.MatchString(fp) {
			return fp, nil
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("testnet: read %s: %w", path, err)
	}
	return "", fmt.Errorf("testnet: %s: no fingerprint line", path)
}

// relayFingerprint makes tor create the relay identity key in dataDir and
// returns its fingerprint (tor --list-fingerprint with a minimal torrc, since
// the full torrc needs every authority's fingerprint first).
func relayFingerprint(ctx context.Context, bins Binaries, dataDir, nickname string, orPort int) (string, error) {
	torrc := filepath.Join(dataDir, "torrc.fingerprint")
	conf := fmt.Sprintf("DataDirectory %s\nORPort 127.0.0.1:%d\nNickname %s\nSocksPort 0\n", dataDir, orPort, nickname)
	if err := os.WriteFile(torrc, []byte(conf), 0o644); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	cmd := exec.CommandContext(ctx, bins.Tor, "--list-fingerprint", "-f", torrc, "--defaults-torrc", os.DevNull)
	cmd.Dir = dataDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testnet: tor --list-fingerprint -f %s: %w: %s", torrc, err, lastLines(string(out), 5))
	}
	path := filepath.Join(dataDir, "fingerprint")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	fields := strings.Fields(string(b)) // "nickname FINGERPRINT"
	if len(fields) != 2 || fields[0] != nickname || !fingerprintRE.MatchString(fields[1]) {
		return "", fmt.Errorf("testnet: %s: unexpected content %q", path, strings.TrimSpace(string(b)))
	}
	return fields[1], nil
}
