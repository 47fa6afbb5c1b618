// Package webui checks, in a real browser, what an operator sees: the
// Temporal Web UI's workflow list filtered by VmStatus="error_terminate"
// shows a run that waits for an admin.
package webui

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// TestWebUIListsRunsWaitingForAnAdmin runs a termination that Proxmox
// refuses, then loads the Web UI's list filtered by VmStatus in headless
// Chromium (test/webui/screenshot.sh) and finds the run. With
// UPDATE_SCREENSHOT=1 it refreshes docs/webui-error-terminate.png.
func TestWebUIListsRunsWaitingForAnAdmin(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("chromium is required for the Web UI check: apt-get install -y chromium")
	}
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	uiPort := strconv.Itoa(testenv.Port(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: cli, ClientOptions: &client.Options{Namespace: "default"}, EnableUI: true, UIPort: uiPort,
		LogLevel: "error", ExtraArgs: pipeline.DevServerArgs(), Stdout: io.Discard, Stderr: io.Discard,
	})
	require.NoError(t, err)
	defer dev.Stop()

	_, dbcfg := testenv.NewDatabase(t)
	st, err := stack.Start(stack.Options{Dir: t.TempDir(), DB: dbcfg, TemporalHost: dev.FrontendHostPort(),
		Fixture: stack.Cluster(), Client: dev.Client()})
	require.NoError(t, err)
	defer st.Stop()
	const id, vmid = 7001, 701
	require.NoError(t, st.Sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: vmid, Name: "web-ui.example.com", Status: "stopped", Protection: true}))
	require.NoError(t, stack.Seed(ctx, st.Deps.Store, stack.Service{ID: id, UserID: 1, Domain: "web-ui.example.com",
		DedicatedIP: "192.0.2.71", VMID: vmid, Node: "pve1", VMName: "web-ui.example.com"}))
	_, err = dev.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pipeline.WorkflowID(id), TaskQueue: pipeline.TaskQueue},
		pipeline.WorkflowName, pipeline.Input{ServiceID: id, Timing: stack.FastTiming()})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		svc, err := st.Deps.Store.LoadService(ctx, id)
		return err == nil && svc.VM.VMStatus == dbmodel.StatusErrorTerminate
	}, 30*time.Second, 100*time.Millisecond)
	time.Sleep(time.Second) // visibility catches up with the search attributes

	page := fmt.Sprintf("http://127.0.0.1:%s/namespaces/default/workflows?query=%s", uiPort,
		url.QueryEscape(`VmStatus="error_terminate"`))
	args := []string{page}
	if os.Getenv("UPDATE_SCREENSHOT") != "" {
		args = append(args, filepath.Join(testenv.RepoRoot(), "docs", "webui-error-terminate.png"))
	}
	var dom string
	require.Eventually(t, func() bool {
		out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "test", "webui", "screenshot.sh"), args...).Output()
		dom = string(out)
		return err == nil && strings.Contains(dom, pipeline.WorkflowID(id))
	}, 90*time.Second, time.Second, "the Web UI list filtered by VmStatus did not show %s", pipeline.WorkflowID(id))
}
