package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// The undo window on the dev server with the real binaries: the worker is
// SIGKILLed during the wait and none runs until well past the deadline.
// Nothing is destroyed meanwhile; the next worker finds the fired timer and
// finishes the termination, with one activity-log entry.
func TestUndoWindowSurvivesAWorkerSIGKILL(t *testing.T) {
	const delay = 4 * time.Second
	e := stack.NewEnv(t, stack.EnvOptions{})
	tm := stack.FastTiming()
	tm.DestroyDelay = delay
	st := e.Start(stack.Options{NoWorker: true, Timing: tm})
	dir := t.TempDir()
	workerBin, starterBin := testenv.Binary(t, "worker"), testenv.Binary(t, "starter")
	worker := func(name string) (*testenv.Proc, string) {
		addr := testenv.Addr(t)
		p := &testenv.Proc{Name: name, Path: workerBin, Args: []string{"--config", st.ConfigPath, "--http-addr", addr},
			Log: filepath.Join(dir, name+".log"), Group: true}
		require.NoError(t, p.Start())
		t.Cleanup(p.Kill)
		wb := workerBinary{addr: addr}
		require.Eventually(t, func() bool { code, _ := wb.get("/healthz"); return code == 200 }, 30*time.Second, 100*time.Millisecond)
		return p, addr
	}
	w1, addr1 := worker("worker-1")

	v := e.SeedVM(200*time.Millisecond, nil)
	e.SeedRecords(v, true)
	out, err := exec.Command(starterBin, "terminate", "--service-id", fmt.Sprint(v.ID), "--config", st.ConfigPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "success\n", string(out))
	require.Eventually(t, func() bool { return e.Row(v.ID).VM.VMStatus == dbmodel.StatusGrace }, 30*time.Second, 50*time.Millisecond)
	graceAt := time.Now()
	_, m := workerBinary{addr: addr1}.get("/metrics")
	require.Contains(t, m, "\nterminate_in_grace 1\n")

	w1.Kill()
	require.False(t, w1.Running())
	// No worker until the deadline is well past: the timer fires on the
	// server, nothing acts on it.
	time.Sleep(time.Until(graceAt.Add(delay + 2*time.Second)))
	vm, ok := st.Sim.VM("pve1", v.VMID)
	require.True(t, ok, "the VM must outlive the window while no worker runs")
	require.Equal(t, "stopped", vm.Status)
	require.Len(t, st.Sim.Backups(v.VMID), 2)
	require.Contains(t, e.Records("example.com"), v.FQDN)
	row := e.Row(v.ID)
	require.Equal(t, dbmodel.StatusGrace, row.VM.VMStatus)
	require.Equal(t, v.IP4, row.Hosting.DedicatedIP)

	worker("worker-2")
	require.Eventually(t, func() bool { return e.Row(v.ID).VM.VMStatus == dbmodel.StatusRemove }, time.Minute, 100*time.Millisecond)
	require.False(t, st.Sim.VMExists(v.VMID))
	require.Empty(t, st.Sim.Backups(v.VMID))
	require.NotContains(t, e.Records("example.com"), v.FQDN)
	require.Equal(t, []string{dbmodel.SuccessText}, e.Activity(v.UserID))

	// The history holds the one durable timer of the window, fired.
	var started, fired int
	var timeout time.Duration
	it := e.Dev.Client().GetWorkflowHistory(context.Background(), pipeline.WorkflowID(v.ID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetTimerStartedEventAttributes(); a != nil {
			started++
			timeout = a.GetStartToFireTimeout().AsDuration()
		}
		if ev.GetTimerFiredEventAttributes() != nil {
			fired++
		}
	}
	require.Equal(t, 1, started)
	require.Equal(t, 1, fired)
	require.Equal(t, delay, timeout)
	var res pipeline.Result
	require.NoError(t, e.Dev.Client().GetWorkflow(context.Background(), pipeline.WorkflowID(v.ID), "").Get(context.Background(), &res))
	require.Equal(t, "terminated", res.Outcome)
}
