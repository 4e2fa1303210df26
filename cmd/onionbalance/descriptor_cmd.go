package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// descriptorJSON is what "descriptor show" prints.
type descriptorJSON struct {
	Address            string           `json:"address"`
	BlindedKey         string           `json:"blinded_key"`
	TimePeriod         uint64           `json:"time_period"`
	PeriodLength       uint64           `json:"time_period_length_minutes"`
	RevisionCounter    uint64           `json:"revision_counter"`
	LifetimeMinutes    int              `json:"lifetime_minutes"`
	SigningCertExpires time.Time        `json:"signing_cert_expires"`
	SigningCertExpired bool             `json:"signing_cert_expired"`
	Create2Formats     []int            `json:"create2_formats"`
	FlowControl        string           `json:"flow_control,omitempty"`
	SingleOnionService bool             `json:"single_onion_service,omitempty"`
	IntroAuthRequired  []string         `json:"intro_auth_required,omitempty"`
	PoWParams          []string         `json:"pow_params,omitempty"`
	IntroPoints        []introPointJSON `json:"intro_points"`
	Skipped            []string         `json:"skipped_intro_points,omitempty"`
	// AuthClientLines counts the middle layer's auth-client lines (real and fake: C tor writes 16 or
	// a multiple of 16); ClientAuth is true when the inner layer needed the --auth-private key.
	AuthClientLines int  `json:"auth_client_lines"`
	ClientAuth      bool `json:"client_auth,omitempty"`
}

type introPointJSON struct {
	LinkSpecifiers    []string  `json:"link_specifiers"`
	OnionKey          string    `json:"onion_key"`
	AuthKey           string    `json:"auth_key"`
	AuthKeyExpires    time.Time `json:"auth_key_cert_expires"`
	EncKey            string    `json:"enc_key"`
	EncKeyCertExpires time.Time `json:"enc_key_cert_expires"`
	Expired           bool      `json:"cert_expired,omitempty"`
	LegacyKey         bool      `json:"legacy_key,omitempty"`
}

// runDescriptorShow verifies and decrypts a descriptor with only the onion address, and prints it.
// Expired certificates are reported, not refused (an inspection tool must show old descriptors); a bad
// signature or a descriptor of another service is an error.
func runDescriptorShow(_ context.Context, args []string, e env) int {
	fs := newFlagSet("onionbalance descriptor show", e, "onionbalance descriptor show --address ADDR FILE")
	addr := fs.String("address", "", "onion address the descriptor belongs to (required)")
	authPrivate := fs.String("auth-private", "", "a client's .auth_private key file, for a descriptor with restricted discovery")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *addr == "" || fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	opts := hsv3.DecodeOptions{SkipExpiryCheck: true}
	if *authPrivate != "" {
		keyAddr, key, err := hsv3.LoadAuthPrivateFile(*authPrivate)
		if err != nil {
			fmt.Fprintf(e.stderr, "onionbalance: --auth-private: %v\n", err)
			return exitError
		}
		if want, err := hsv3.DecodeAddress(*addr); err == nil && keyAddr != hsv3.EncodeAddress(want) {
			fmt.Fprintf(e.stderr, "onionbalance: --auth-private: %s is a key for %s.onion, not %s\n", *authPrivate, keyAddr, *addr)
			return exitError
		}
		opts.ClientKey = key
	}
	path := fs.Arg(0)
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "onionbalance: %v\n", err)
		return exitError
	}
	now := time.Now()
	opts.Now = now
	d, err := hsv3.DecodeForAddress(raw, *addr, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "onionbalance: descriptor %s: %v\n", path, err)
		return exitError
	}
	out := descriptorJSON{
		Address: hsv3.EncodeAddress(d.Identity) + ".onion", BlindedKey: base64.RawStdEncoding.EncodeToString(d.BlindedKey),
		TimePeriod: d.PeriodNum, PeriodLength: d.PeriodLength, RevisionCounter: d.RevisionCounter,
		LifetimeMinutes: d.LifetimeMinutes, SigningCertExpires: d.SigningKeyCert.Expiry(),
		SigningCertExpired: d.SigningKeyCert.Expired(now), Create2Formats: d.Inner.Create2Formats,
		FlowControl: d.Inner.FlowControl, SingleOnionService: d.Inner.SingleOnionService,
		IntroAuthRequired: d.Inner.IntroAuthRequired, IntroPoints: []introPointJSON{},
		AuthClientLines: len(d.Middle.AuthClients), ClientAuth: d.DescriptorCookie != nil,
	}
	for _, p := range d.Inner.PoWParams {
		out.PoWParams = append(out.PoWParams, fmt.Sprintf("%s %v", p.Type, p.Args))
	}
	for _, ip := range d.IntroPoints() {
		j := introPointJSON{
			OnionKey: base64.StdEncoding.EncodeToString(ip.OnionKey[:]), EncKey: base64.StdEncoding.EncodeToString(ip.EncKey[:]),
			AuthKey: base64.RawStdEncoding.EncodeToString(ip.AuthKey()), AuthKeyExpires: ip.AuthKeyCert.Expiry(),
			EncKeyCertExpires: ip.EncKeyCert.Expiry(), LegacyKey: ip.HasLegacyKey(),
			Expired: ip.AuthKeyCert.Expired(now) || ip.EncKeyCert.Expired(now),
		}
		for _, ls := range ip.LinkSpecifiers {
			j.LinkSpecifiers = append(j.LinkSpecifiers, ls.String())
		}
		out.IntroPoints = append(out.IntroPoints, j)
	}
	for _, s := range d.SkippedIntroPoints {
		out.Skipped = append(out.Skipped, fmt.Sprintf("#%d: %v", s.Index, s.Err))
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(e.stderr, "onionbalance: %v\n", err)
		return exitError
	}
	return exitOK
}
