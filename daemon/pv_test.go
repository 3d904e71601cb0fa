package daemon

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/coprocd/coprocd/daemon/api"
	"github.com/coprocd/coprocd/frontend"
	"github.com/coprocd/coprocd/pvhost/pvtest"
)

// TestGuestsReachTheirDomains: each domain has its own paravirtual socket;
// a guest that connects runs real jobs on the domain's vcoproc, and the
// API sees the session and the jobs.
func TestGuestsReachTheirDomains(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	var dom api.Domain
	var doms []api.Domain
	r.call("GET", "/v1/domains", nil, &doms)
	for _, d := range doms {
		if d.Name == "cluster" {
			dom = d
		}
	}
	require.Equal(t, filepath.Join(cfg.RuntimeDir, "pv", "cluster.sock"), dom.Socket)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := frontend.Dial(dom.Socket, frontend.Options{})
	require.NoError(t, err)
	require.NoError(t, pvtest.Workload(ctx, c, 7))

	r.call("GET", "/v1/domains", nil, &doms)
	for _, d := range doms {
		if d.Name == "cluster" {
			dom = d
		}
	}
	assert.Equal(t, 1, dom.Sessions)
	require.Len(t, dom.VCoprocs, 1)
	assert.GreaterOrEqual(t, dom.VCoprocs[0].Stats.JobsDone, uint64(3))
	require.NoError(t, c.Close())

	// A domain created at run time gets its socket; deleting it ends it.
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "late", VCoprocs: []api.VCoprocRequest{{Device: "gpu0", Weight: 1, Memory: 1 << 20}}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	c2, err := frontend.Dial(dom.Socket, frontend.Options{})
	require.NoError(t, err)
	require.NoError(t, pvtest.Workload(ctx, c2, 9))
	code, _ = r.call("DELETE", "/v1/domains/late", nil, nil)
	require.Equal(t, http.StatusNoContent, code)
	_, err = c2.Devices()[0].ReadReg(ctx, 0, 4)
	assert.Error(t, err, "the session ended with its domain")
	c2.Close()
}

// TestPVSessionsLeaveVFIOUserVCoprocsAlone: one door per vcoproc. A
// paravirtual guest of a domain gets its vcoprocs except the one exposed
// over vfio-user (whose server owns its events and interrupts); a domain
// whose every vcoproc is a VM's refuses paravirtual guests, saying why.
func TestPVSessionsLeaveVFIOUserVCoprocsAlone(t *testing.T) {
	cfg := testConfig(t)
	r := start(t, cfg)
	var dom api.Domain
	code, body := r.call("POST", "/v1/domains", api.DomainRequest{Name: "mixed", VCoprocs: []api.VCoprocRequest{
		{Device: "gpu0", Weight: 1, Memory: 1 << 20, VFIOUser: true},
		{Device: "dsp0", Weight: 1, Memory: 1 << 16},
	}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	c, err := frontend.Dial(dom.Socket, frontend.Options{})
	require.NoError(t, err)
	require.Len(t, c.Devices(), 1)
	assert.Equal(t, "dsp0", c.Devices()[0].Name(), "the vfio-user gpu0 is not the paravirtual guest's")
	require.NoError(t, c.Close())

	code, body = r.call("POST", "/v1/domains", api.DomainRequest{Name: "vmonly", VCoprocs: []api.VCoprocRequest{
		{Device: "gpu0", Weight: 1, Memory: 1 << 20, VFIOUser: true}}}, &dom)
	require.Equal(t, http.StatusCreated, code, body)
	_, err = frontend.Dial(dom.Socket, frontend.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "every one is exposed over vfio-user")
}
