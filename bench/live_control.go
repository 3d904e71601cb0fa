package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/coprocd/coprocd/daemon/api"
)

// controlClient speaks the daemon's control API (package daemon/api) over
// its UNIX socket, through the shared api.Client (whose per-request
// timeout keeps a daemon that stops answering from hanging the run):
// creating the run's domains, and reading the daemon's accounting (device
// busy time, switches, time spent switching, each vcoproc's device time)
// and switch traces.
type controlClient struct {
	api *api.Client
}

func newControlClient(socket string) *controlClient {
	return &controlClient{api: api.NewClient(socket)}
}

func (c *controlClient) do(ctx context.Context, method, path string, in, out any) error {
	if err := c.api.Do(ctx, method, path, in, out); err != nil {
		return fmt.Errorf("bench: %w", err)
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

// createDomain creates a domain; the daemon's refusal to admit one of its
// vcoprocs is an *api.StatusError with status 409 (http.StatusConflict).
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
