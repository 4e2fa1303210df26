package testnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/net/proxy"
)

// ErrHTTPStatus is wrapped when a fetch gets a status other than 200.
var ErrHTTPStatus = errors.New("testnet: unexpected HTTP status")

// maxBody bounds the bodies Get reads.
const maxBody = 1 << 20

// Get fetches url through the SOCKS5 proxy at socksAddr (a tor SocksPort)
// and returns the body of a 200 response. Each call uses a fresh random
// SOCKS username and password, so tor (IsolateSOCKSAuth, on by default)
// builds a fresh circuit for it. Host names, .onion included, are resolved
// by the proxy.
func Get(ctx context.Context, socksAddr, url string) (string, error) {
	user, pass := rand.Text(), rand.Text()
	dialer, err := proxy.SOCKS5("tcp", socksAddr, &proxy.Auth{User: user, Password: pass}, proxy.Direct)
	if err != nil {
		return "", fmt.Errorf("testnet: socks5 %s: %w", socksAddr, err)
	}
	cd, ok := dialer.(proxy.ContextDialer)
	if !ok {
		return "", fmt.Errorf("testnet: socks5 dialer %T cannot take a context", dialer)
	}
	tr := &http.Transport{DialContext: cd.DialContext, DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("testnet: GET %s via %s: %w", url, socksAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fmt.Errorf("testnet: GET %s via %s: read body: %w", url, socksAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("%w: GET %s: %s", ErrHTTPStatus, url, resp.Status)
	}
	return string(body), nil
}

// GetRetry calls Get until it succeeds or ctx is done, waiting 1 s after the
// first failure and doubling up to 8 s. Each attempt is bounded by attempt.
// The error names the last failure.
func GetRetry(ctx context.Context, socksAddr, url string, attempt time.Duration) (string, error) {
	wait := time.Second
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, attempt)
		body, err := Get(actx, socksAddr, url)
		cancel()
		if err == nil {
			return body, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("testnet: gave up after %d attempts: %w", n, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 8*time.Second)
	}
}
