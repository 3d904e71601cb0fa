package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/coprocd/coprocd/daemon/api"
)

// controlClient speaks the daemon's control API (package daemon/api) over
// its UNIX socket: creating the run's domains, and reading the daemon's
// accounting (device busy time, switches, time spent switching, each
// vcoproc's device time) and switch traces.
type controlClient struct {
	http *http.Client
}

func newControlClient(socket string) *controlClient {
	return &controlClient{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}}
}

// APIError is a request the daemon refused, with its message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

func (c *controlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://coprocd"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("bench: control API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("bench: control API %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(data))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("bench: control API %s %s: %w", method, path, err)
	}
	return nil
}

// waitReady polls the API until it answers, the daemon ends (exited) or
// the timeout passes.
func (c *controlClient) waitReady(ctx context.Context, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var devs []api.Device
		err := c.do(ctx, "GET", "/v1/devices", nil, &devs)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the daemon's control API did not answer within %v: %w", timeout, err)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("bench: the daemon stopped before it served: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *controlClient) createDomain(ctx context.Context, req api.DomainRequest) error {
	return c.do(ctx, "POST", "/v1/domains", req, nil)
}

func (c *controlClient) stats(ctx context.Context) (api.Stats, error) {
	var st api.Stats
	err := c.do(ctx, "GET", "/v1/stats", nil, &st)
	return st, err
}

func (c *controlClient) trace(ctx context.Context, device string) ([]api.Switch, error) {
	var tr []api.Switch
	err := c.do(ctx, "GET", "/v1/devices/"+device+"/trace", nil, &tr)
	return tr, err
}
