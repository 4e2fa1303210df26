package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// NameHandler answers GET / with name and 404 for any other path.
func NameHandler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, name)
	})
	return mux
}

func newNameServer(name string) *http.Server {
	return &http.Server{Handler: NameHandler(name), ReadHeaderTimeout: 10 * time.Second}
}

// ServeName serves NameHandler(name) on listen until ctx is done. It is the
// body of the testnet command's hidden serve-http subcommand.
func ServeName(ctx context.Context, name, listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("testnet: serve %s: %w", name, err)
	}
	srv := newNameServer(name)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return fmt.Errorf("testnet: serve %s on %s: %w", name, listen, err)
}

// checkName does one direct GET http://addr/ and reports whether it answered name.
func checkName(ctx context.Context, addr, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("testnet: GET http://%s/: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return fmt.Errorf("testnet: GET http://%s/: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != name {
		return fmt.Errorf("testnet: GET http://%s/: %s %q, want 200 %q", addr, resp.Status, body, name)
	}
	return nil
}
