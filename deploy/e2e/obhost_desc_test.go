package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// systemPython is the python with the stem module (python3-stem).
const systemPython = "/usr/bin/python3"

// errNoStem says stem is not installed; the cross-check cannot run.
var errNoStem = errors.New("stem is not installed for " + systemPython)

// introID names an intro point the same way for both decoders: its link
// specifiers (hex of type, length and data), onion key and encryption key
// (base64).
type introID string

func introIDOf(linkSpecs []string, onionKey, encKey string) introID {
	return introID(strings.Join(linkSpecs, ",") + "|" + onionKey + "|" + encKey)
}

// decoded is a descriptor decoded by our decoder.
type decoded struct {
	desc *hsv3.Descriptor
	ids  []introID // sorted
	auth []string  // intro point auth keys, base64, in descriptor order
}

// decodeOurs verifies and decrypts a descriptor of addr (56 characters or
// with ".onion") with publisher/hsv3.
func decodeOurs(raw []byte, addr string, now time.Time) (decoded, error) {
	d, err := hsv3.DecodeForAddress(raw, addr, hsv3.DecodeOptions{Now: now})
	if err != nil {
		return decoded{}, err
	}
	out := decoded{desc: d}
	for _, ip := range d.IntroPoints() {
		var ls []string
		for _, l := range ip.LinkSpecifiers {
			ls = append(ls, fmt.Sprintf("%02x%02x%x", l.Type, len(l.Data), l.Data))
		}
		out.ids = append(out.ids, introIDOf(ls,
			base64.StdEncoding.EncodeToString(ip.OnionKey[:]), base64.StdEncoding.EncodeToString(ip.EncKey[:])))
		out.auth = append(out.auth, base64.StdEncoding.EncodeToString(ip.AuthKey()))
	}
	slices.Sort(out.ids)
	return out, nil
}

// stemSummary is the output of publisher/hsv3/testdata/stem_decode.py.
type stemSummary struct {
	RevisionCounter uint64 `json:"revision_counter"`
	IntroPoints     []struct {
		LinkSpecifiers []string `json:"link_specifiers"`
		OnionKey       string   `json:"onion_key"`
		EncKey         string   `json:"enc_key"`
	} `json:"intro_points"`
}

// decodeStem decodes a descriptor of addr with stem (an independent
// implementation) and returns its revision counter and sorted intro points.
func decodeStem(ctx context.Context, raw []byte, addr, tmpDir string) (uint64, []introID, error) {
	if _, err := os.Stat(systemPython); err != nil {
		return 0, nil, errNoStem
	}
	root, err := repoRoot()
	if err != nil {
		return 0, nil, err
	}
	f, err := os.CreateTemp(tmpDir, "descriptor-")
	if err != nil {
		return 0, nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return 0, nil, err
	}
	if err := f.Close(); err != nil {
		return 0, nil, err
	}
	if !strings.HasSuffix(addr, ".onion") {
		addr += ".onion"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	script := filepath.Join(root, "publisher", "hsv3", "testdata", "stem_decode.py")
	out, err := exec.CommandContext(ctx, systemPython, script, f.Name(), addr).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		return 0, nil, errNoStem
	}
	if err != nil {
		var stderr []byte
		if exit != nil {
			stderr = exit.Stderr
		}
		return 0, nil, fmt.Errorf("stem_decode.py %s: %w\n%s", addr, err, stderr)
	}
	var s stemSummary
	if err := json.Unmarshal(out, &s); err != nil {
		return 0, nil, fmt.Errorf("stem_decode.py output %q: %w", out, err)
	}
	var ids []introID
	for _, ip := range s.IntroPoints {
		ids = append(ids, introIDOf(ip.LinkSpecifiers, ip.OnionKey, ip.EncKey))
	}
	slices.Sort(ids)
	return s.RevisionCounter, ids, nil
}

// crossCheck decodes a descriptor with both decoders and fails unless they
// agree on the revision counter and the intro points.
func crossCheck(ctx context.Context, raw []byte, addr, tmpDir string, now time.Time) (decoded, error) {
	ours, err := decodeOurs(raw, addr, now)
	if err != nil {
		return decoded{}, fmt.Errorf("our decoder: %w", err)
	}
	rev, ids, err := decodeStem(ctx, raw, addr, tmpDir)
	if err != nil {
		return ours, err
	}
	if rev != ours.desc.RevisionCounter {
		return ours, fmt.Errorf("revision counter: stem %d, ours %d", rev, ours.desc.RevisionCounter)
	}
	if !slices.Equal(ids, ours.ids) {
		return ours, fmt.Errorf("intro points differ:\nstem %q\nours %q", ids, ours.ids)
	}
	return ours, nil
}
