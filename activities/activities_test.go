package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

type fx struct {
	testsuite.WorkflowTestSuite
	sim  *pvesim.Sim
	acts *activities.Activities
	env  *testsuite.TestActivityEnvironment
}

var timing = pipeline.Timing{
	StopPoll: 100 * time.Millisecond, StopWindow: 2 * time.Second, ProgressEvery: 300 * time.Millisecond,
	ForceWindow: 2 * time.Second, TaskPoll: 50 * time.Millisecond, DeleteTaskWindow: 10 * time.Second,
	DeleteAttempts: 2, DeleteBackoff: 100 * time.Millisecond, BackupsWindow: time.Minute, DNSWindow: time.Minute,
}

// execute runs the activity with in and decodes its result into res.
func (f *fx) execute(t *testing.T, res, activity, in any) {
	t.Helper()
	v, err := f.env.ExecuteActivity(activity, in)
	require.NoError(t, err)
	require.NoError(t, v.Get(res))
}

func newFx(t *testing.T, store *dbmodel.Store) *fx {
	t.Helper()
	return newFxDestroying(t, store, 0)
}

// newFxDestroying is newFx on a simulator whose destroy tasks take destroy
// (its default when 0).
func newFxDestroying(t *testing.T, store *dbmodel.Store, destroy time.Duration) *fx {
	t.Helper()
	f := &fx{}
	fxr := stack.Cluster()
	fxr.Second = pvesim.Duration(50 * time.Millisecond)
	if destroy > 0 {
		fxr.DestroyDuration = pvesim.Duration(destroy)
	}
	f.sim = pvesim.New(pvesim.Options{DestroyDuration: destroy})
	require.NoError(t, f.sim.LoadFixture(fxr))
	u, err := f.sim.Start("127.0.0.1:0", false)
	require.NoError(t, err)
	t.Cleanup(func() { f.sim.Close() })
	c, err := pve.New(pve.Config{Name: stack.ServerName, URL: strings.TrimSuffix(u, "/api2/json"), TokenID: stack.TokenID, TokenSecret: stack.TokenSecret}, nil)
	require.NoError(t, err)
	f.acts = &activities.Activities{Store: store, PVE: map[string]*pve.Client{stack.ServerName: c}, Out: &strings.Builder{}, Secrets: activities.Redactor{stack.TokenSecret}}
	f.env = f.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.acts)
	return f
}

func target(vmid int, name string) pipeline.Target {
	return pipeline.Target{ServiceID: vmid, UserID: 1, Server: stack.ServerName, Node: "pve1", VMID: vmid, VMName: name, Attempt: 1}
}

func texts(lines []pipeline.Line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// requests counts what the simulator received for vmid on a route.
func (f *fx) requests(vmid int, method, route string) int {
	n := 0
	for _, r := range f.sim.Requests() {
		if r.Method == method && r.Route == route && strings.Contains(r.Path, fmt.Sprintf("/%d", vmid)) {
			n++
		}
	}
	return n
}

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "want an application error, got %v", err)
	return app
}

func TestStopVMGracefulWithProgressLines(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 101, Name: "a.example.com", ShutdownDelay: 700 * time.Millisecond}))
	var res activities.StopResult
	f.execute(t, &res, f.acts.StopVM, activities.StopInput{Target: target(101, "a.example.com"), Timing: timing})
	require.True(t, res.Stopped)
	out := texts(res.Lines)
	require.Contains(t, out, "remote status: running, vmid: 101\nstop request sent\n")
	require.Contains(t, out, "still running, waited 0.3s / 2s, status: running")
	require.Contains(t, out, "stopped after ~")
	require.NotEmpty(t, res.ShutdownUPID)
}

func TestStopVMPausedSkipsGracefulShutdown(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 102, Name: "p", Status: "paused"}))
	var res activities.StopResult
	f.execute(t, &res, f.acts.StopVM, activities.StopInput{Target: target(102, "p"), Timing: timing})
	require.True(t, res.Paused)
	require.False(t, res.Stopped)
	require.Zero(t, f.requests(102, "POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"))

	// The force stop handles it.
	f.execute(t, &res, f.acts.ForceStopVM, activities.StopInput{Target: target(102, "p"), Timing: timing})
	require.True(t, res.Stopped, texts(res.Lines))
}

func TestStopVMRefusesAnotherVM(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 103, Name: "someone-else.example.com"}))
	for _, fn := range []any{f.acts.StopVM, f.acts.ForceStopVM} {
		_, err := f.env.ExecuteActivity(fn, activities.StopInput{Target: target(103, "ours.example.com"), Timing: timing})
		app := appErr(t, err)
		require.Equal(t, pipeline.ErrIdentityMismatch, app.Type())
		require.True(t, app.NonRetryable())
		require.Contains(t, app.Message(), `the record describes name "ours.example.com", Proxmox has name "someone-else.example.com"`)
	}
	_, err := f.env.ExecuteActivity(f.acts.DeleteVM, activities.VMInput{Target: target(103, "ours.example.com"), Timing: timing})
	require.Equal(t, pipeline.ErrIdentityMismatch, appErr(t, err).Type())
	// Nothing was sent that changes the VM.
	require.Zero(t, f.requests(103, "POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"))
	require.Zero(t, f.requests(103, "POST", "/nodes/{node}/qemu/{vmid}/status/stop"))
	require.Zero(t, f.requests(103, "DELETE", "/nodes/{node}/qemu/{vmid}"))
	vm, ok := f.sim.VM("pve1", 103)
	require.True(t, ok)
	require.Equal(t, "running", vm.Status)
}

func TestStopVMUUIDGuard(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 104, Name: "same-name", SMBIOS1: "uuid=11111111-2222-3333-4444-555555555555"}))
	tg := target(104, "same-name")
	tg.VMUUID = "99999999-2222-3333-4444-555555555555"
	_, err := f.env.ExecuteActivity(f.acts.StopVM, activities.StopInput{Target: tg, Timing: timing})
	require.Contains(t, appErr(t, err).Message(), "uuid 11111111-2222-3333-4444-555555555555")
	tg.VMUUID = "11111111-2222-3333-4444-555555555555"
	_, err = f.env.ExecuteActivity(f.acts.StopVM, activities.StopInput{Target: tg, Timing: timing})
	require.NoError(t, err)
}

func TestStopVMResumesFromHeartbeatWithoutSecondShutdown(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 105, Name: "r", IgnoreACPI: true}))
	f.env.SetHeartbeatDetails(activities.Progress{Waited: 1800 * time.Millisecond, UPID: "UPID:pve1:0:0:0:qmshutdown:105:x:"})
	var res activities.StopResult
	f.execute(t, &res, f.acts.StopVM, activities.StopInput{Target: target(105, "r"), Timing: timing})
	require.False(t, res.Stopped)
	require.Contains(t, texts(res.Lines), "resuming stop wait at 1.8s / 2s")
	require.Zero(t, f.requests(105, "POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"))
}

func TestForceStopOverrulesAnIgnoredShutdown(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 106, Name: "acpi-deaf", IgnoreACPI: true}))
	tm := timing
	tm.StopWindow = 400 * time.Millisecond
	var res activities.StopResult
	f.execute(t, &res, f.acts.StopVM, activities.StopInput{Target: target(106, "acpi-deaf"), Timing: tm})
	require.False(t, res.Stopped)
	require.Contains(t, texts(res.Lines), "still running after 0.4s: forcing stop")
	f.execute(t, &res, f.acts.ForceStopVM, activities.StopInput{Target: target(106, "acpi-deaf"), Timing: tm, ShutdownUPID: res.ShutdownUPID})
	require.True(t, res.Stopped, texts(res.Lines))
	require.Contains(t, texts(res.Lines), "force-stop request sent (pending shutdown overruled)")
}

func TestRemoveBackupsBestEffort(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, stack.AddVMWithBackups(f.sim, "pve1", 107, "b", time.Second))
	prot, err := f.sim.AddBackup(pvesim.FixtureBackup{Storage: "pbs", VMID: 107, CTime: pvesim.Timestamp(time.Now().Add(-time.Hour).Truncate(time.Second)), Protected: true})
	require.NoError(t, err)
	other, err := f.sim.AddBackup(pvesim.FixtureBackup{Storage: "local", Node: "pve1", VMID: 999, CTime: pvesim.Timestamp(time.Now().Truncate(time.Second))})
	require.NoError(t, err)
	var res activities.BackupsResult
	f.execute(t, &res, f.acts.RemoveBackups, activities.BackupsInput{Target: target(107, "b"), Timing: timing})
	require.Len(t, res.Deleted, 2)
	require.Equal(t, []string{prot}, res.Left)
	require.Contains(t, texts(res.Lines), "backup kept (protected): "+prot)
	require.Contains(t, texts(res.Lines), "backups removed (2 deleted, 1 left)")
	require.Equal(t, []string{prot}, f.sim.Backups(107))
	require.Equal(t, []string{other}, f.sim.Backups(999), "another VM's backup must stay")

	// A node that cannot be reached: the phase reports and returns, never fails.
	require.NoError(t, f.sim.SetNodeOnline("pve1", false))
	f.execute(t, &res, f.acts.RemoveBackups, activities.BackupsInput{Target: target(107, "b"), Timing: timing})
	require.NotEmpty(t, res.Errors)
}

func TestRemoveBackupsLeavesAReusedVmidAlone(t *testing.T) {
	f := newFx(t, nil)
	// Our VM is gone; the vmid now belongs to a new VM on pve2.
	require.NoError(t, stack.AddVMWithBackups(f.sim, "pve2", 108, "new-customer", time.Second))
	var res activities.BackupsResult
	f.execute(t, &res, f.acts.RemoveBackups, activities.BackupsInput{Target: target(108, "old-customer"), Timing: timing})
	require.Empty(t, res.Deleted)
	require.Contains(t, texts(res.Lines), `vmid 108 now belongs to VM "new-customer" on node pve2`)
	require.Len(t, f.sim.Backups(108), 2)
}

func TestDeleteVM(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 110, Name: "ok", Status: "stopped"}))
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 111, Name: "running"}))
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 112, Name: "locked", Status: "stopped", Lock: "backup"}))
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve2", VMID: 113, Name: "moved", Status: "stopped"}))

	var res activities.DeleteResult
	f.execute(t, &res, f.acts.DeleteVM, activities.VMInput{Target: target(110, "ok"), Timing: timing})
	require.Contains(t, texts(res.Lines), "DELETE VM vmid=110 node=pve1 purge=1\nVM deleted")
	require.False(t, f.sim.VMExists(110))

	// Gone cluster-wide before the DELETE: success, nothing sent.
	f.execute(t, &res, f.acts.DeleteVM, activities.VMInput{Target: target(110, "ok"), Timing: timing})
	require.True(t, res.AlreadyGone)
	require.Equal(t, 1, f.requests(110, "DELETE", "/nodes/{node}/qemu/{vmid}"))

	_, err := f.env.ExecuteActivity(f.acts.DeleteVM, activities.VMInput{Target: target(111, "running"), Timing: timing})
	app := appErr(t, err)
	require.True(t, app.NonRetryable())
	require.Equal(t, "VM 111 is running - destroy failed", app.Message())

	_, err = f.env.ExecuteActivity(f.acts.DeleteVM, activities.VMInput{Target: target(112, "locked"), Timing: timing})
	app = appErr(t, err)
	require.False(t, app.NonRetryable(), "a lock frees itself: Temporal retries within the DELETE policy")
	require.Equal(t, "VM is locked (backup)", app.Message())

	_, err = f.env.ExecuteActivity(f.acts.DeleteVM, activities.VMInput{Target: target(113, "moved"), Timing: timing})
	app = appErr(t, err)
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Message(), "the cluster lists it on node pve2")
	require.True(t, f.sim.VMExists(113))

	// Unreachable node: transient, retried by Temporal.
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve2", VMID: 114, Name: "far", Status: "stopped"}))
	require.NoError(t, f.sim.SetNodeOnline("pve2", false))
	tg := target(114, "far")
	tg.Node = "pve2"
	_, err = f.env.ExecuteActivity(f.acts.DeleteVM, activities.VMInput{Target: tg, Timing: timing})
	require.False(t, appErr(t, err).NonRetryable())
}

func TestDeleteVMResumesTheEarlierTask(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 115, Name: "r", Status: "stopped"}))
	c := f.acts.PVE[stack.ServerName]
	upid, err := c.DeleteVM(context.Background(), "pve1", 115)
	require.NoError(t, err)
	f.env.SetHeartbeatDetails(activities.Progress{UPID: upid})
	var res activities.DeleteResult
	f.execute(t, &res, f.acts.DeleteVM, activities.VMInput{Target: target(115, "r"), Timing: timing})
	require.Contains(t, texts(res.Lines), "waiting for the destroy task of an earlier try")
	require.Equal(t, 1, f.requests(115, "DELETE", "/nodes/{node}/qemu/{vmid}"), "a retry must not send a second DELETE")
}

func TestFinishIsIdempotentPerAttempt(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	f := newFx(t, store)
	ctx := context.Background()
	require.NoError(t, stack.Seed(ctx, store, stack.Service{ID: 501, UserID: 9, Domain: "x.example.com", DedicatedIP: "192.0.2.5", VMID: 120, Node: "pve1", VMName: "x"}))
	in := activities.FinishInput{Target: target(120, "x"), StartedAt: time.Now(), Phase: pipeline.PhaseDelete, Reason: "VM 120 is running - destroy failed"}
	in.Target.ServiceID, in.Target.UserID = 501, 9
	for i := 0; i < 2; i++ { // a retry after the commit
		_, err := f.env.ExecuteActivity(f.acts.RecordFailure, in)
		require.NoError(t, err)
	}
	logs, err := store.ActivityLogs(ctx, 9)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, dbmodel.FailurePref+"VM 120 is running - destroy failed", logs[0].Description)

	in.Target.Attempt = 2
	in.Phase, in.Reason = pipeline.PhaseCleanDB, ""
	for i := 0; i < 2; i++ {
		_, err := f.env.ExecuteActivity(f.acts.CleanDB, in)
		require.NoError(t, err)
	}
	logs, err = store.ActivityLogs(ctx, 9)
	require.NoError(t, err)
	require.Len(t, logs, 2)
	require.Equal(t, dbmodel.SuccessText, logs[1].Description)
	svc, err := store.LoadService(ctx, 501)
	require.NoError(t, err)
	require.Equal(t, "", svc.Hosting.DedicatedIP)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
	acts, err := store.ActionLogs(ctx, 501)
	require.NoError(t, err)
	require.Len(t, acts, 2)

	// An older attempt arriving late changes nothing.
	in.Target.Attempt = 1
	_, err = f.env.ExecuteActivity(f.acts.RecordFailure, in)
	require.NoError(t, err)
	svc, err = store.LoadService(ctx, 501)
	require.NoError(t, err)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
}

func TestParseIPs(t *testing.T) {
	ips, skipped := activities.ParseIPs("192.0.2.5", "2001:DB8::1\n192.0.2.6/32, 10.0.0.0/24;garbage\n::ffff:192.0.2.7\n192.0.2.5")
	require.Equal(t, []string{"192.0.2.5", "192.0.2.6", "192.0.2.7", "2001:db8::1"}, ips)
	require.Equal(t, []string{"10.0.0.0/24", "garbage"}, skipped)
}

// An HA-managed VM: Proxmox answers the overrule parameter with 400 "Not
// applicable for HA resources"; the force stop goes on without it, and the
// DELETE with purge=1 removes it from HA too.
func TestHAManagedVM(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 130, Name: "ha", HA: true, IgnoreACPI: true}))
	tm := timing
	tm.StopWindow = 300 * time.Millisecond
	var res activities.StopResult
	f.execute(t, &res, f.acts.StopVM, activities.StopInput{Target: target(130, "ha"), Timing: tm})
	require.False(t, res.Stopped)
	f.execute(t, &res, f.acts.ForceStopVM, activities.StopInput{Target: target(130, "ha"), Timing: tm, ShutdownUPID: res.ShutdownUPID})
	require.True(t, res.Stopped, texts(res.Lines))
	var del activities.DeleteResult
	f.execute(t, &del, f.acts.DeleteVM, activities.VMInput{Target: target(130, "ha"), Timing: tm})
	require.False(t, f.sim.VMExists(130))
}

func TestExpiredTokenFailsDeleteAtOnce(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 131, Name: "t", Status: "stopped"}))
	f.sim.SetFault(pvesim.Fault{Kind: pvesim.FaultTokenExpired})
	_, err := f.env.ExecuteActivity(f.acts.DeleteVM, activities.VMInput{Target: target(131, "t"), Timing: timing})
	app := appErr(t, err)
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Message(), "expired")
	require.NotContains(t, app.Message(), stack.TokenSecret)
}

// A retry that lost the heartbeat (the worker or the connection died right
// after Proxmox started the destroy task) finds the running task instead of
// sending a second DELETE.
func TestDeleteVMRetryFindsTheRunningDestroyTask(t *testing.T) {
	sim := pvesim.New(pvesim.Options{DestroyDuration: 3 * time.Second})
	fxr := stack.Cluster()
	fxr.DestroyDuration = pvesim.Duration(3 * time.Second)
	require.NoError(t, sim.LoadFixture(fxr))
	u, err := sim.Start("127.0.0.1:0", false)
	require.NoError(t, err)
	defer sim.Close()
	require.NoError(t, sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 132, Name: "slow", Status: "stopped"}))
	// The answer to the DELETE comes after the client gave up; Proxmox
	// started the task anyway.
	sim.SetFault(pvesim.Fault{Kind: pvesim.FaultLatency, Route: "/nodes/{node}/qemu/{vmid}", Method: "DELETE", Delay: 1500 * time.Millisecond, Count: 1})
	c, err := pve.New(pve.Config{Name: stack.ServerName, URL: strings.TrimSuffix(u, "/api2/json"), TokenID: stack.TokenID, TokenSecret: stack.TokenSecret, Timeout: time.Second}, nil)
	require.NoError(t, err)
	acts := &activities.Activities{PVE: map[string]*pve.Client{stack.ServerName: c}, Out: &strings.Builder{}}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.RegisterActivity(acts)
	// The test environment fires the retry timer at once; let the retry
	// start only once Proxmox has really started the first destroy task.
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.Attempt < 2 {
			return
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			for _, tk := range sim.Tasks() {
				if tk.Type == "qmdestroy" && tk.ID == "132" {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (activities.DeleteResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 1500 * time.Millisecond, MaximumAttempts: 3}})
		var res activities.DeleteResult
		err := workflow.ExecuteActivity(ctx, acts.DeleteVM, activities.VMInput{Target: target(132, "slow"), Timing: timing}).Get(ctx, &res)
		return res, err
	}, workflow.RegisterOptions{Name: "deleteOnce"})
	env.ExecuteWorkflow("deleteOnce")
	require.NoError(t, env.GetWorkflowError())
	var res activities.DeleteResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Contains(t, texts(res.Lines), "waiting for the destroy task of an earlier try")
	require.False(t, sim.VMExists(132))
	n := 0
	for _, r := range sim.Requests() {
		if r.Method == "DELETE" && r.Route == "/nodes/{node}/qemu/{vmid}" {
			n++
		}
	}
	require.Equal(t, 1, n, "one DELETE, whatever the retries")
}

// The stop phase did not run (OwnerVerified false): the cluster lists the
// vmid on our node under the record's name written without its root dot.
// It is our VM, and its backups go.
func TestRemoveBackupsTrailingDotIsTheSameVM(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, stack.AddVMWithBackups(f.sim, "pve1", 109, "foo.example.com", time.Second))
	var res activities.BackupsResult
	f.execute(t, &res, f.acts.RemoveBackups, activities.BackupsInput{Target: target(109, "FOO.example.com."), Timing: timing})
	require.Len(t, res.Deleted, 2, texts(res.Lines))
	require.Empty(t, f.sim.Backups(109))
}

func TestSameVMName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"foo.example.com", "foo.example.com.", true},
		{"Foo.Example.com.", "foo.example.com", true},
		{"foo", "foo.", true},
		{"foo", "foo2", false},
		{"foo.", "foo..", false},
	} {
		require.Equal(t, tc.same, activities.SameVMName(tc.a, tc.b), "%q vs %q", tc.a, tc.b)
	}
}
