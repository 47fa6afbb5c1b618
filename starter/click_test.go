package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

const shutdownRoute = "/nodes/{node}/qemu/{vmid}/status/shutdown"

// configVariant writes a copy of the harness's config, changed by edit, and
// returns its path.
func (h *harness) configVariant(edit func(*config.Config)) string {
	h.t.Helper()
	cfg := *h.st.Config
	cfg.Proxmox = slices.Clone(cfg.Proxmox)
	edit(&cfg)
	path := filepath.Join(h.t.TempDir(), "config.yaml")
	require.NoError(h.t, stack.WriteConfig(path, &cfg))
	return path
}

// shutdowns counts the POST status/shutdown requests the simulator served for vmid.
func (h *harness) shutdowns(vmid int) int {
	n := 0
	for _, r := range h.st.Sim.Requests() {
		if r.Method == "POST" && r.Route == shutdownRoute && strings.Contains(r.Path, fmt.Sprintf("/%d/", vmid)) {
			n++
		}
	}
	return n
}

// noRun asserts that the service has no workflow execution at all.
func (h *harness) noRun(id int) {
	h.t.Helper()
	_, err := testenv.DevServer(h.t).Client().DescribeWorkflow(context.Background(), pipeline.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	require.True(h.t, errors.As(err, &nf), "a run exists for service %d: %v", id, err)
}

// requireRefusedClick checks a click refused before it acted: exit 1,
// nothing on stdout, one error line holding every want and not secret (when
// set), the row still ready, no shutdown and no run.
func (h *harness) requireRefusedClick(v vm, code int, stdout, stderr, secret string, want ...string) {
	h.t.Helper()
	require.Equal(h.t, exitError, code, "%s%s", stdout, stderr)
	require.Empty(h.t, stdout)
	require.Equal(h.t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	for _, w := range want {
		require.Contains(h.t, stderr, w)
	}
	if secret != "" {
		require.NotContains(h.t, stderr, secret)
	}
	require.Equal(h.t, "ready", h.row(v.id).VM.VMStatus)
	require.Zero(h.t, h.shutdowns(v.vmid))
	h.noRun(v.id)
}

// A click whose Proxmox token is refused (wrong secret, expired token, a
// token without the privilege) is one error line and exit 1, with no run,
// no shutdown and the row as it was.
func TestClickWithARefusedTokenIsAnError(t *testing.T) {
	h := newHarness(t)
	wrongSecret := h.configVariant(func(c *config.Config) { c.Proxmox[0].TokenSecret = "not-the-secret-0123" })
	for _, tc := range []struct {
		name   string
		config string
		fault  *pvesim.Fault
		want   string
	}{
		{"wrong token_secret", wrongSecret, nil, "HTTP 401"},
		{"expired token", h.st.ConfigPath, &pvesim.Fault{Kind: pvesim.FaultTokenExpired}, "access expired"},
		{"no privilege", h.st.ConfigPath, &pvesim.Fault{Kind: pvesim.FaultHTTPError, Method: "GET", Route: "/nodes/{node}/qemu/{vmid}/config",
			Status: 403, Message: "Permission check failed (/vms, VM.Audit)"}, "HTTP 403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, st: h.st, store: h.store, pdns: h.pdns, out: h.out}
			v := h.seed(0)
			if tc.fault != nil {
				h.st.Sim.SetFault(*tc.fault)
				t.Cleanup(h.st.Sim.ClearFaults)
			}
			var out, errb strings.Builder
			code := run([]string{"terminate", "--service-id", fmt.Sprint(v.id), "--config", tc.config}, &out, &errb)
			h.requireRefusedClick(v, code, out.String(), errb.String(), "not-the-secret-0123", "refused the API token", tc.want)
		})
	}
}

// Only an unreachable node and a VM already gone are left to the workflow:
// the click succeeds and starts the run.
func TestClickLeavesAnUnreachableNodeOrAGoneVMToTheWorkflow(t *testing.T) {
	h := newHarness(t)

	down := h.seed(0)
	h.st.Sim.SetFault(pvesim.Fault{Kind: pvesim.FaultNodeUnreachable, Node: "pve1", Count: 1})
	t.Cleanup(h.st.Sim.ClearFaults)
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(down.id))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "success\n", out)

	gone := int(nextID.Add(1))
	require.NoError(t, stack.Seed(context.Background(), h.store, stack.Service{
		ID: gone, UserID: gone + 500000, Domain: fmt.Sprintf("%d-gone.example.com", gone), VMID: 9990, Node: "pve1",
		VMName: fmt.Sprintf("%d-gone.example.com", gone)}))
	require.False(t, h.st.Sim.VMExists(9990))
	code, out, errOut = h.starter("terminate", "--service-id", fmt.Sprint(gone))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "success\n", out)

	for _, id := range []int{down.id, gone} {
		code, out, _ := h.starter("status", "--service-id", fmt.Sprint(id), "--follow")
		require.Equal(t, exitOK, code, out)
		require.Contains(t, out, "result=success")
	}
}

// N clicks for one service at the same instant: all print success, one run
// exists, and exactly one of them sends the fire-and-forget shutdown. No
// worker polls the clicks' task queue, so every shutdown counted is a click's.
func TestConcurrentClicksSendOneShutdown(t *testing.T) {
	h := newHarness(t)
	tq := fmt.Sprintf("pt-noworker-%d", nextID.Add(1))
	path := h.configVariant(func(c *config.Config) { c.Temporal.TaskQueue = tq })
	tc := testenv.DevServer(t).Client()
	const clicks = 6
	for round := 0; round < 3; round++ {
		v := h.seed(0)
		t.Cleanup(func() {
			_ = tc.TerminateWorkflow(context.Background(), pipeline.WorkflowID(v.id), "", "test over")
		})
		var wg sync.WaitGroup
		gate := make(chan struct{})
		codes := make([]int, clicks)
		outs := make([]string, clicks)
		for i := range clicks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out, errb strings.Builder
				<-gate
				codes[i] = run([]string{"terminate", "--service-id", fmt.Sprint(v.id), "--config", path}, &out, &errb)
				outs[i] = out.String() + errb.String()
			}()
		}
		close(gate)
		wg.Wait()
		for i := range clicks {
			require.Equal(t, exitOK, codes[i], outs[i])
			require.Equal(t, "success\n", outs[i])
		}
		require.Equal(t, 1, h.shutdowns(v.vmid), "round %d: one shutdown from %d clicks", round, clicks)
		d, err := tc.DescribeWorkflow(context.Background(), pipeline.WorkflowID(v.id), "")
		require.NoError(t, err)
		require.Equal(t, tq, d.RawResponse.ExecutionConfig.TaskQueue.Name)
	}
}

// A configuration the click cannot work with is one error line and exit 1,
// with no run, no shutdown and the row as it was.
func TestClickWithAConfigurationErrorIsAnError(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"no token_secret", func(c *config.Config) { c.Proxmox[0].TokenSecret = "" }, "token_secret (or token_secret_env) is not set"},
		{"server not configured", func(c *config.Config) { c.Proxmox[0].Name = "elsewhere" }, `proxmox server "` + stack.ServerName + `" is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, st: h.st, store: h.store, pdns: h.pdns, out: h.out}
			path := h.configVariant(tc.edit)
			v := h.seed(0)
			var out, errb strings.Builder
			code := run([]string{"terminate", "--service-id", fmt.Sprint(v.id), "--config", path}, &out, &errb)
			h.requireRefusedClick(v, code, out.String(), errb.String(), "", tc.want)
		})
	}
}

// A database that accepts the connection and never answers: the click ends
// with its --timeout, one error line and exit 1, instead of hanging until
// WHMCS kills it; no shutdown, no run, the row as it was.
func TestClickOnADatabaseThatNeverAnswersEndsWithItsTimeout(t *testing.T) {
	h := newHarness(t)
	path := h.configVariant(func(c *config.Config) {
		c.Database.DSN, c.Database.DSNEnv = "whmcs:pw-hung-123@tcp("+testenv.HangingServer(t)+")/whmcs", ""
	})
	v := h.seed(0)
	var out, errOut bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"terminate", "--service-id", fmt.Sprint(v.id), "--config", path, "--timeout", "1s"}, &out, &errOut)
	}()
	select {
	case c := <-code:
		h.requireRefusedClick(v, c, out.String(), errOut.String(), "pw-hung-123", "database: cannot connect (mysql)")
	case <-time.After(30 * time.Second):
		t.Fatal("the starter did not end after its --timeout")
	}
}

// A start whose answer is lost (a deadline, a server restarting) may still
// have started the run: the click then asks, past its own deadline, and
// attaches to an open run instead of refusing and putting the row back.
func TestFailedStartLooksForTheRunItMayHaveStarted(t *testing.T) {
	h := newHarness(t)
	tq := fmt.Sprintf("pt-noworker-%d", nextID.Add(1))
	path := h.configVariant(func(c *config.Config) { c.Temporal.TaskQueue = tq })
	v := h.seed(0)
	s, err := newSession(context.Background(), path)
	require.NoError(t, err)
	defer s.close()
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	require.False(t, s.runOpenAfter(expired, v.id), "no run yet: the failed start is an error")

	var out, errOut bytes.Buffer
	require.Equal(t, exitOK, run([]string{"terminate", "--service-id", fmt.Sprint(v.id), "--config", path}, &out, &errOut), errOut.String())
	tc := testenv.DevServer(t).Client()
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), pipeline.WorkflowID(v.id), "", "test over") })
	require.True(t, s.runOpenAfter(expired, v.id), "the run is open: a failed start attaches to it")
}
