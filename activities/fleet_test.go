package activities_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// A fleet of 300 VMs on one node with node_concurrency 2, at the spec's
// timing compressed 20 times (heartbeat timeouts included): half the guests
// shut down at once, so their DELETEs and destroy tasks fill the node's
// slots while the other half, deaf to ACPI, need the force stop. No run may
// fail because it waited for the limiter: every VM is stopped and deleted.
// The phases run under activity options of the production shape (a
// heartbeat timeout, a start-to-close of window plus a minute, the DELETE's
// bounded retries), enforced by the Temporal test environment. A stop or
// force stop attempt that times out counts as a failed run: on a cluster
// its retries queue again behind the destroys until the DELETE meets a
// running VM (the test environment lets a timed-out attempt run on, so a
// retry here would hide that).
func TestFleetOnOneNodeNeverStarvesTheStopPhase(t *testing.T) {
	const vms, first = 300, 1000
	fxr := stack.Cluster()
	fxr.Second = pvesim.Duration(50 * time.Millisecond)
	fxr.DestroyDuration = pvesim.Duration(40 * time.Millisecond)
	sim := pvesim.New(pvesim.Options{})
	require.NoError(t, sim.LoadFixture(fxr))
	u, err := sim.Start("127.0.0.1:0", false)
	require.NoError(t, err)
	defer sim.Close()
	for i := 0; i < vms; i++ {
		spec := pvesim.VMSpec{Node: "pve1", VMID: first + i, Name: fmt.Sprintf("vm%d", i), ShutdownDelay: 300 * time.Millisecond}
		if i%2 == 1 {
			spec.IgnoreACPI = true
		}
		require.NoError(t, sim.AddVM(spec))
	}
	c, err := pve.New(pve.Config{Name: stack.ServerName, URL: strings.TrimSuffix(u, "/api2/json"), TokenID: stack.TokenID,
		TokenSecret: stack.TokenSecret, NodeConcurrency: 2, WaitTick: 100 * time.Millisecond}, nil)
	require.NoError(t, err)
	acts := &activities.Activities{PVE: map[string]*pve.Client{stack.ServerName: c}, Out: io.Discard}

	tm := pipeline.Timing{
		StopPoll: 250 * time.Millisecond, StopWindow: 1500 * time.Millisecond, ProgressEvery: 750 * time.Millisecond,
		ForceWindow: 1500 * time.Millisecond, TaskPoll: 25 * time.Millisecond, DeleteTaskWindow: 15 * time.Second,
		DeleteAttempts: 5, DeleteBackoff: 100 * time.Millisecond, BackupsWindow: time.Minute, DNSWindow: time.Minute,
	}
	heartbeat := max(3*tm.StopPoll, 1500*time.Millisecond) // production: max(3*poll, 30s)
	opts := func(ctx workflow.Context, startToClose time.Duration, attempts int32) workflow.Context {
		return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: startToClose, HeartbeatTimeout: heartbeat,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 2, MaximumAttempts: attempts},
		})
	}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(5 * time.Minute)
	env.RegisterActivity(acts)
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) ([]string, error) {
		var failed []string
		wg := workflow.NewWaitGroup(ctx)
		for i := 0; i < vms; i++ {
			tg := pipeline.Target{ServiceID: first + i, Server: stack.ServerName, Node: "pve1", VMID: first + i, VMName: fmt.Sprintf("vm%d", i), Attempt: 1}
			wg.Add(1)
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer wg.Done()
				var sr activities.StopResult
				err := workflow.ExecuteActivity(opts(ctx, tm.StopWindow+time.Minute, 1), acts.StopVM, activities.StopInput{Target: tg, Timing: tm}).Get(ctx, &sr)
				if temporal.IsTimeoutError(err) {
					failed = append(failed, fmt.Sprintf("vmid %d: stop: %v", tg.VMID, err))
				}
				if err != nil || !sr.Stopped {
					var fr activities.StopResult // never fatal: DELETE decides
					err := workflow.ExecuteActivity(opts(ctx, tm.ForceWindow+time.Minute, 1), acts.ForceStopVM,
						activities.StopInput{Target: tg, Timing: tm, ShutdownUPID: sr.ShutdownUPID}).Get(ctx, &fr)
					if temporal.IsTimeoutError(err) {
						failed = append(failed, fmt.Sprintf("vmid %d: force stop: %v", tg.VMID, err))
					}
				}
				var dr activities.DeleteResult
				if err := workflow.ExecuteActivity(opts(ctx, tm.DeleteTaskWindow+time.Minute, int32(tm.DeleteAttempts)), acts.DeleteVM,
					activities.VMInput{Target: tg, Timing: tm}).Get(ctx, &dr); err != nil {
					failed = append(failed, fmt.Sprintf("vmid %d: %v", tg.VMID, err))
				}
			})
		}
		wg.Wait(ctx)
		return failed, nil
	}, workflow.RegisterOptions{Name: "fleet"})
	env.ExecuteWorkflow("fleet")
	require.NoError(t, env.GetWorkflowError())
	var failed []string
	require.NoError(t, env.GetWorkflowResult(&failed))
	require.Zero(t, len(failed), "%d of %d runs would end in error_terminate, e.g. %v", len(failed), vms, failed[:min(3, len(failed))])
	for i := 0; i < vms; i++ {
		require.False(t, sim.VMExists(first+i), "vmid %d", first+i)
	}
}

// A retry after an attempt that only waited for a node slot (its heartbeat
// says Queued) has sent nothing: it starts afresh and sends the shutdown.
func TestStopVMRetryAfterQueuedAttemptSendsTheShutdown(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 160, Name: "q", ShutdownDelay: 200 * time.Millisecond}))
	f.env.SetHeartbeatDetails(activities.Progress{Queued: true})
	var res activities.StopResult
	f.execute(t, &res, f.acts.StopVM, activities.StopInput{Target: target(160, "q"), Timing: timing})
	require.True(t, res.Stopped, texts(res.Lines))
	require.NotContains(t, texts(res.Lines), "resuming")
	require.Equal(t, 1, f.requests(160, "POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"))
}
