package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultTimeout bounds each request of a Client: a daemon that accepts
// the connection but stops answering fails the request instead of
// hanging its caller.
const DefaultTimeout = 10 * time.Second

// maxResponse bounds what a Client reads of one answer (a long switch
// trace is the largest).
const maxResponse = 64 << 20

// Client speaks the control API over the daemon's UNIX socket. It is shared
// by coprocctl and the benchmark harness, so that both read errors, bodies
// and timeouts the same way.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the daemon listening on socket, with
// DefaultTimeout per request.
func NewClient(socket string) *Client {
	return &Client{socket: socket, http: &http.Client{
		Timeout: DefaultTimeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// SetTimeout replaces the per-request timeout; zero means none (the
// request's context alone bounds it).
func (c *Client) SetTimeout(d time.Duration) { c.http.Timeout = d }

// Socket is the socket the client dials.
func (c *Client) Socket() string { return c.socket }

// StatusError is a request the daemon answered with a status outside 2xx.
// Message is the daemon's, unchanged (the Error body's), or the body's text
// when the body is not an Error; it is empty when the body is.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("coprocd answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// Do sends in (when not nil) as JSON and decodes the answer into out (when
// not nil and the answer has a body; a *json.RawMessage receives the body
// as it came). A status outside 2xx is a *StatusError; a failure to reach
// the daemon wraps the transport's error (a *net.OpError when the socket
// cannot be dialled).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("control API %s %s: encoding the request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://coprocd"+path, body)
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("control API %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(data))
		}
		return &StatusError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("control API %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}
