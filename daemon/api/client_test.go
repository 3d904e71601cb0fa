package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unixServer serves h on a UNIX socket in a temporary directory.
func unixServer(t *testing.T, h http.Handler) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "control.sock")
	l, err := net.Listen("unix", socket)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return socket
}

// TestClientDo: requests carry their JSON body and content type, answers
// decode (a raw message as it came), statuses outside 2xx are a
// StatusError with the daemon's message, or the body's text when it is not
// an Error.
func TestClientDo(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/domains", func(w http.ResponseWriter, r *http.Request) {
		var req DomainRequest
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if req.Name == "greedy" {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(Error{Error: "scheduler: edf: vcoproc 2 refused: utilization 1.2 > 1"})
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(Domain{Name: req.Name, Source: "api"})
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"uptime_ns": 42}`))
	})
	mux.HandleFunc("GET /v1/broken", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "proxy says no", http.StatusBadGateway)
	})
	mux.HandleFunc("DELETE /v1/domains/a", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	c := NewClient(unixServer(t, mux))
	ctx := context.Background()

	var d Domain
	require.NoError(t, c.Do(ctx, "POST", "/v1/domains", DomainRequest{Name: "a"}, &d))
	assert.Equal(t, Domain{Name: "a", Source: "api"}, d)

	err := c.Do(ctx, "POST", "/v1/domains", DomainRequest{Name: "greedy"}, nil)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, &StatusError{Status: http.StatusConflict, Message: "scheduler: edf: vcoproc 2 refused: utilization 1.2 > 1"}, se)
	assert.Equal(t, se.Message, err.Error(), "the daemon's message, unchanged")

	var st Stats
	require.NoError(t, c.Do(ctx, "GET", "/v1/stats", nil, &st))
	assert.Equal(t, int64(42), st.UptimeNs)
	var raw json.RawMessage
	require.NoError(t, c.Do(ctx, "GET", "/v1/stats", nil, &raw))
	assert.Equal(t, `{"uptime_ns": 42}`, string(raw), "a raw message is the answer as it came")

	err = c.Do(ctx, "GET", "/v1/broken", nil, nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, &StatusError{Status: http.StatusBadGateway, Message: "proxy says no"}, se)

	err = c.Do(ctx, "GET", "/v1/nothing", nil, nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusNotFound, se.Status)
	assert.Equal(t, "coprocd answered 502 Bad Gateway", (&StatusError{Status: http.StatusBadGateway}).Error(), "an empty body names the status")

	require.NoError(t, c.Do(ctx, "DELETE", "/v1/domains/a", nil, &d), "no body, nothing to decode")

	err = c.Do(ctx, "GET", "/v1/stats", nil, &[]string{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control API GET /v1/stats: decoding the answer")
}

// TestClientTimesOut: a daemon that accepts the connection but never
// answers fails the request after the timeout instead of hanging it.
func TestClientTimesOut(t *testing.T) {
	release := make(chan struct{})
	socket := unixServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	c := NewClient(socket)
	assert.Equal(t, DefaultTimeout, c.http.Timeout)
	c.SetTimeout(50 * time.Millisecond)
	start := time.Now()
	err := c.Do(context.Background(), "GET", "/v1/stats", nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control API GET /v1/stats")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestClientUnreachable: a socket nobody listens on is a dial error the
// caller can recognise (coprocctl's hint).
func TestClientUnreachable(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "absent.sock"))
	assert.Equal(t, filepath.Join(filepath.Dir(c.Socket()), "absent.sock"), c.Socket())
	err := c.Do(context.Background(), "GET", "/v1/devices", nil, nil)
	var op *net.OpError
	require.True(t, errors.As(err, &op), "%v", err)
	var se *StatusError
	assert.False(t, errors.As(err, &se))
}
