package testnet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNameHandler(t *testing.T) {
	h := NameHandler("backend7")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "backend7" {
		t.Errorf("GET / = %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /other = %d, want 404", rec.Code)
	}
}

func TestServeNameUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeName(ctx, "svc", addr) }()

	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	for checkName(wctx, addr, "svc") != nil {
		select {
		case <-wctx.Done():
			t.Fatalf("server never answered: %v", checkName(wctx, addr, "svc"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := checkName(wctx, addr, "other"); err == nil {
		t.Error("checkName accepted the wrong name")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeName: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeName did not return after cancel")
	}
}
