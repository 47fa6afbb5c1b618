package activities_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// StartVM starts a stopped VM once: a retry finds it running and sends no
// second start.
func TestStartVMStartsAStoppedVMOnce(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 130, Name: "back.example.com", Status: "stopped"}))
	in := activities.VMInput{Target: target(130, "back.example.com"), Timing: timing}
	var res activities.StartResult
	f.execute(t, &res, f.acts.StartVM, in)
	require.Contains(t, texts(res.Lines), "restore: VM 130 running again")
	vm, ok := f.sim.VM("pve1", 130)
	require.True(t, ok)
	require.Equal(t, "running", vm.Status)

	f.execute(t, &res, f.acts.StartVM, in)
	require.Contains(t, texts(res.Lines), "restore: VM 130 already running")
	require.Equal(t, 1, f.requests(130, "POST", "/nodes/{node}/qemu/{vmid}/status/start"))
}

// StartVM never starts a VM that is not the one the record describes, nor
// one that is gone.
func TestStartVMRefusesAnotherVMOrNone(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 131, Name: "someone-else.example.com", Status: "stopped"}))
	_, err := f.env.ExecuteActivity(f.acts.StartVM, activities.VMInput{Target: target(131, "ours.example.com"), Timing: timing})
	require.Equal(t, pipeline.ErrIdentityMismatch, appErr(t, err).Type())
	_, err = f.env.ExecuteActivity(f.acts.StartVM, activities.VMInput{Target: target(132, "gone.example.com"), Timing: timing})
	app := appErr(t, err)
	require.Equal(t, pipeline.ErrNotFound, app.Type())
	require.True(t, app.NonRetryable())
	require.Zero(t, f.requests(131, "POST", "/nodes/{node}/qemu/{vmid}/status/start"))
	vm, _ := f.sim.VM("pve1", 131)
	require.Equal(t, "stopped", vm.Status)
}

// The undo window's rows: grace, then back to the status before the click
// with one activity-log entry however often RecordRestore runs.
func TestRecordRestoreIsIdempotent(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	f := newFx(t, store)
	ctx := context.Background()
	require.NoError(t, stack.Seed(ctx, store, stack.Service{ID: 601, UserID: 11, Domain: "r.example.com", DedicatedIP: "192.0.2.6",
		VMID: 133, Node: "pve1", VMName: "r", VMStatus: "set_ip"}))
	tg := target(133, "r")
	tg.ServiceID, tg.UserID = 601, 11
	var res activities.GraceResult
	f.execute(t, &res, f.acts.EnterGrace, activities.GraceInput{Target: tg})
	svc, err := store.LoadService(ctx, 601)
	require.NoError(t, err)
	require.Equal(t, dbmodel.StatusGrace, svc.VM.VMStatus)
	for range 2 { // a retry after the commit
		f.execute(t, &res, f.acts.RecordRestore, activities.GraceInput{Target: tg, To: "set_ip"})
	}
	svc, err = store.LoadService(ctx, 601)
	require.NoError(t, err)
	require.Equal(t, "set_ip", svc.VM.VMStatus)
	require.Equal(t, "192.0.2.6", svc.Hosting.DedicatedIP)
	require.Equal(t, 133, svc.VM.VMID)
	logs, err := store.ActivityLogs(ctx, 11)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, dbmodel.RestoredText, logs[0].Description)
}

func TestRestoreTarget(t *testing.T) {
	for before, want := range map[string]string{"ready": "ready", "set_ip": "set_ip", "": "ready", "terminate": "ready",
		"remove": "ready", "error_terminate": "ready", "grace": "ready"} {
		require.Equal(t, want, activities.RestoreTarget(before), before)
	}
}
