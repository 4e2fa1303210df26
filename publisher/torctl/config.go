package torctl

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// AuthMethod selects how the client authenticates to the control port.
type AuthMethod string

const (
	// AuthAuto picks the method from PROTOCOLINFO: the password when one is configured, else no
	// authentication when tor allows it, else the cookie.
	AuthAuto AuthMethod = "auto"
	// AuthNone sends an empty AUTHENTICATE (tor without CookieAuthentication or a password).
	AuthNone AuthMethod = "none"
	// AuthCookie uses SAFECOOKIE (or plain COOKIE when tor offers only that) with the cookie file
	// named by PROTOCOLINFO, or Config.CookieFile when set.
	AuthCookie AuthMethod = "cookie"
	// AuthPassword sends Config.Password or the content of Config.PasswordFile
	// (tor's HashedControlPassword).
	AuthPassword AuthMethod = "password"
)

// Config says how to reach and authenticate to the tor control port, and how hard to retry.
type Config struct {
	// Address of the control port: "tcp:127.0.0.1:9051", "127.0.0.1:9051", "unix:/run/tor/control"
	// or an absolute socket path.
	Address string
	// Auth is the authentication method (default AuthAuto).
	Auth AuthMethod
	// Password for AuthPassword. Mutually exclusive with PasswordFile.
	Password string
	// PasswordFile holds the password; surrounding white space is ignored. Read at each connect.
	PasswordFile string
	// CookieFile overrides the cookie path announced by tor (useful when tor runs in another
	// mount namespace). Empty: use tor's COOKIEFILE.
	CookieFile string

	// ReconnectMin is the first wait after a failed connect; it doubles up to ReconnectMax.
	ReconnectMin time.Duration
	// ReconnectMax bounds the wait between connect attempts.
	ReconnectMax time.Duration
	// RequestTimeout bounds the connect handshake and every command: a command tor has not answered
	// within it marks the connection dead and triggers a reconnect.
	RequestTimeout time.Duration
	// EventQueue is how many parsed events may wait for the consumer of Events before new ones are
	// dropped (and counted by DroppedEvents).
	EventQueue int

	// Logger receives connection state changes; nil means hclog.NewNullLogger().
	Logger hclog.Logger
}

// DefaultConfig returns a Config for tor's default control port with automatic authentication.
func DefaultConfig() Config {
	return Config{
		Address:        "tcp:127.0.0.1:9051",
		Auth:           AuthAuto,
		ReconnectMin:   500 * time.Millisecond,
		ReconnectMax:   30 * time.Second,
		RequestTimeout: 60 * time.Second,
		EventQueue:     4096,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("torctl: invalid config")

// Validate checks the config and names the first field at fault.
func (c Config) Validate() error {
	if _, _, err := parseAddress(c.Address); err != nil {
		return fmt.Errorf("%w: Address: %w", ErrInvalidConfig, err)
	}
	switch c.Auth {
	case "", AuthAuto, AuthNone, AuthCookie:
	case AuthPassword:
		if c.Password == "" && c.PasswordFile == "" {
			return fmt.Errorf("%w: Auth %q needs Password or PasswordFile", ErrInvalidConfig, c.Auth)
		}
	default:
		return fmt.Errorf("%w: Auth %q is not one of auto, none, cookie, password", ErrInvalidConfig, c.Auth)
	}
	if c.Password != "" && c.PasswordFile != "" {
		return fmt.Errorf("%w: Password and PasswordFile are both set", ErrInvalidConfig)
	}
	if strings.ContainsAny(c.Password, "\r\n") {
		return fmt.Errorf("%w: Password contains a line break", ErrInvalidConfig)
	}
	if c.ReconnectMin <= 0 {
		return fmt.Errorf("%w: ReconnectMin %v must be positive", ErrInvalidConfig, c.ReconnectMin)
	}
	if c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("%w: ReconnectMax %v is below ReconnectMin %v", ErrInvalidConfig, c.ReconnectMax, c.ReconnectMin)
	}
	if c.RequestTimeout <= 0 {
		return fmt.Errorf("%w: RequestTimeout %v must be positive", ErrInvalidConfig, c.RequestTimeout)
	}
	if c.EventQueue <= 0 {
		return fmt.Errorf("%w: EventQueue %d must be positive", ErrInvalidConfig, c.EventQueue)
	}
	return nil
}

// parseAddress turns a control port address into the network and address for net.Dial.
func parseAddress(addr string) (network, address string, err error) {
	switch {
	case addr == "":
		return "", "", errors.New("empty")
	case strings.HasPrefix(addr, "unix:"):
		network, address = "unix", strings.TrimPrefix(addr, "unix:")
	case strings.HasPrefix(addr, "tcp:"):
		network, address = "tcp", strings.TrimPrefix(addr, "tcp:")
	case filepath.IsAbs(addr):
		network, address = "unix", addr
	default:
		network, address = "tcp", addr
	}
	if network == "unix" {
		if !filepath.IsAbs(address) {
			return "", "", fmt.Errorf("unix socket path %q is not absolute", address)
		}
		return network, address, nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", "", fmt.Errorf("%q: %w", address, err)
	}
	if host == "" || port == "" {
		return "", "", fmt.Errorf("%q: want HOST:PORT", address)
	}
	return network, address, nil
}
