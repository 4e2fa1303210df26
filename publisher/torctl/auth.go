package torctl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cretz/bine/control"
)

// ErrAuth is wrapped by every authentication failure.
var ErrAuth = errors.New("torctl: authentication failed")

// HMAC keys of the SAFECOOKIE exchange (control-spec, AUTHCHALLENGE).
const (
	safeCookieServerKey = "Tor safe cookie authentication server-to-controller hash"
	safeCookieClientKey = "Tor safe cookie authentication controller-to-server hash"
)

// chooseAuth picks the method to use given the configured one and the methods tor offers.
func chooseAuth(cfg Config, offered []string) (AuthMethod, error) {
	has := func(m string) bool { return slices.Contains(offered, m) }
	hasCookie := has("SAFECOOKIE") || has("COOKIE")
	switch cfg.Auth {
	case AuthNone:
		return AuthNone, nil
	case AuthPassword:
		return AuthPassword, nil
	case AuthCookie:
		if !hasCookie {
			return "", fmt.Errorf("%w: cookie auth configured but tor offers %v", ErrAuth, offered)
		}
		return AuthCookie, nil
	}
	// Auto.
	switch {
	case (cfg.Password != "" || cfg.PasswordFile != "") && has("HASHEDPASSWORD"):
		return AuthPassword, nil
	case has("NULL"):
		return AuthNone, nil
	case hasCookie:
		return AuthCookie, nil
	case has("HASHEDPASSWORD"):
		return "", fmt.Errorf("%w: tor wants a password and none is configured", ErrAuth)
	}
	return "", fmt.Errorf("%w: no supported method among %v", ErrAuth, offered)
}

// authenticate runs PROTOCOLINFO and AUTHENTICATE on a fresh connection.
func authenticate(conn *control.Conn, cfg Config) error {
	pi, err := conn.ProtocolInfo()
	if err != nil {
		return fmt.Errorf("%w: PROTOCOLINFO: %w", ErrAuth, err)
	}
	method, err := chooseAuth(cfg, pi.AuthMethods)
	if err != nil {
		return err
	}
	var secret []byte
	switch method {
	case AuthPassword:
		pw, err := password(cfg)
		if err != nil {
			return err
		}
		secret = []byte(pw)
	case AuthCookie:
		path := cfg.CookieFile
		if path == "" {
			path = pi.CookieFile
		}
		if path == "" {
			return fmt.Errorf("%w: tor announced no COOKIEFILE and Config.CookieFile is empty", ErrAuth)
		}
		cookie, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: read cookie: %w", ErrAuth, err)
		}
		if len(cookie) != 32 {
			return fmt.Errorf("%w: cookie file %s has %d bytes, want 32", ErrAuth, path, len(cookie))
		}
		if slices.Contains(pi.AuthMethods, "SAFECOOKIE") {
			if secret, err = safeCookie(conn, cookie); err != nil {
				return err
			}
		} else {
			secret = cookie
		}
	}
	cmd := "AUTHENTICATE"
	if len(secret) > 0 {
		cmd += " " + hex.EncodeToString(secret)
	}
	if _, err := conn.SendRequest("%s", cmd); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAuth, method, err)
	}
	return nil
}

// password returns Config.Password or the trimmed content of Config.PasswordFile.
func password(cfg Config) (string, error) {
	if cfg.PasswordFile == "" {
		return cfg.Password, nil
	}
	b, err := os.ReadFile(cfg.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("%w: read password file: %w", ErrAuth, err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("%w: password file %s is empty", ErrAuth, cfg.PasswordFile)
	}
	return pw, nil
}

// safeCookie runs AUTHCHALLENGE, checks that tor knows the cookie too, and returns the client hash
// to send with AUTHENTICATE.
func safeCookie(conn *control.Conn, cookie []byte) ([]byte, error) {
	clientNonce := make([]byte, 32)
	if _, err := rand.Read(clientNonce); err != nil {
		return nil, fmt.Errorf("%w: client nonce: %w", ErrAuth, err)
	}
	resp, err := conn.SendRequest("AUTHCHALLENGE SAFECOOKIE %s", hex.EncodeToString(clientNonce))
	if err != nil {
		return nil, fmt.Errorf("%w: AUTHCHALLENGE: %w", ErrAuth, err)
	}
	serverHash, serverNonce, err := parseAuthChallenge(resp.Reply)
	if err != nil {
		return nil, err
	}
	want := safeCookieHMAC(safeCookieServerKey, cookie, clientNonce, serverNonce)
	if !hmac.Equal(serverHash, want) {
		return nil, fmt.Errorf("%w: AUTHCHALLENGE: SERVERHASH does not match our cookie", ErrAuth)
	}
	return safeCookieHMAC(safeCookieClientKey, cookie, clientNonce, serverNonce), nil
}

// parseAuthChallenge reads "AUTHCHALLENGE SERVERHASH=<64 hex> SERVERNONCE=<64 hex>".
func parseAuthChallenge(reply string) (hash, nonce []byte, err error) {
	f := strings.Fields(reply)
	if len(f) != 3 || f[0] != "AUTHCHALLENGE" {
		return nil, nil, fmt.Errorf("%w: AUTHCHALLENGE reply %q", ErrAuth, reply)
	}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != 32 {
			return nil, nil, fmt.Errorf("%w: AUTHCHALLENGE %s: want 64 hex digits", ErrAuth, k)
		}
		switch k {
		case "SERVERHASH":
			hash = b
		case "SERVERNONCE":
			nonce = b
		}
	}
	if hash == nil || nonce == nil {
		return nil, nil, fmt.Errorf("%w: AUTHCHALLENGE reply %q lacks SERVERHASH or SERVERNONCE", ErrAuth, reply)
	}
	return hash, nonce, nil
}

func safeCookieHMAC(key string, cookie, clientNonce, serverNonce []byte) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(cookie)
	m.Write(clientNonce)
	m.Write(serverNonce)
	return m.Sum(nil)
}
