package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/coprocd/coprocd/daemon/api"
)

// client talks to the control API over the daemon's UNIX socket, through
// the shared api.Client (its timeout, its reading of errors), adding the
// hint an operator needs when the daemon cannot be reached.
type client struct {
	api *api.Client
}

func newClient(socket string) *client { return &client{api: api.NewClient(socket)} }

// do sends a request and decodes the answer into out (when not nil; a
// *json.RawMessage receives the answer as the daemon wrote it). An error
// from the daemon is returned as the daemon wrote it.
func (c *client) do(method, path string, in, out any) error {
	err := c.api.Do(context.Background(), method, path, in, out)
	var op *net.OpError
	var status *api.StatusError
	if err != nil && !errors.As(err, &status) && errors.As(err, &op) {
		return fmt.Errorf("cannot reach coprocd at %s: %v (is the daemon running? --socket selects another)", c.api.Socket(), op.Err)
	}
	return err
}
