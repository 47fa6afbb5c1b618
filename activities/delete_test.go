package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// slowDestroyFx is a simulator whose destroy tasks take a while, so a
// second DELETE could be sent while the first one still runs.
func slowDestroyFx(t *testing.T) *fx {
	t.Helper()
	return newFxDestroying(t, nil, 2*time.Second)
}

// The workflow reruns a DELETE lost with its worker as a fresh activity:
// attempt 1, no heartbeat. It must find the destroy task the lost one
// started and wait for it, never send a second DELETE.
func TestDeleteVMFreshRunFindsTheRunningDestroyTask(t *testing.T) {
	f := slowDestroyFx(t)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 140, Name: "lost", Status: "stopped"}))
	_, err := f.acts.PVE[stack.ServerName].DeleteVM(context.Background(), "pve1", 140)
	require.NoError(t, err)

	var res activities.DeleteResult
	f.execute(t, &res, f.acts.DeleteVM, activities.VMInput{Target: target(140, "lost"), Timing: timing})
	require.Contains(t, texts(res.Lines), "waiting for the destroy task of an earlier try")
	require.Equal(t, 1, f.requests(140, "DELETE", "/nodes/{node}/qemu/{vmid}"), "a rerun must not send a second DELETE")
	require.False(t, f.sim.VMExists(140))
}

// CheckDeletable predicts destroy_vm's early refusals with Proxmox's own
// words, checked against the simulator's DELETE.
func TestCheckDeletableMatchesProxmoxRefusal(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 150, Name: "prot", Status: "stopped", Protection: true}))
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 151, Name: "up"}))
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 152, Name: "fine", Status: "stopped"}))
	c := f.acts.PVE[stack.ServerName]
	for _, tc := range []struct {
		vmid  int
		name  string
		class string
	}{{150, "prot", pve.ClassProtected}, {151, "up", pve.ClassRunning}, {152, "fine", ""}, {153, "gone", ""}} {
		var res activities.DeletableResult
		f.execute(t, &res, f.acts.CheckDeletable, target(tc.vmid, tc.name))
		require.Equal(t, tc.class, res.Class, "vmid %d", tc.vmid)
		if tc.class == "" {
			require.Empty(t, res.Refusal)
			continue
		}
		// Proxmox says the same when asked.
		_, derr := c.DeleteVM(context.Background(), "pve1", tc.vmid)
		require.Error(t, derr)
		require.Contains(t, derr.Error(), res.Refusal)
		require.Equal(t, tc.class, pve.ClassOf(derr))
		require.Contains(t, texts(res.Lines), "backups and DNS records are kept")
	}
	require.Zero(t, f.requests(152, "DELETE", "/nodes/{node}/qemu/{vmid}"), "the check changes nothing")

	// The vmid now belongs to another VM: not ours to judge.
	_, err := f.env.ExecuteActivity(f.acts.CheckDeletable, target(150, "someone-else"))
	app := appErr(t, err)
	require.Equal(t, pipeline.ErrIdentityMismatch, app.Type())
	require.True(t, app.NonRetryable())
}

// A node pveproxy cannot reach is asked again; when it stays away the
// DELETE could not be sent either, so the check refuses and nothing is
// destroyed. A node that answers again in between passes.
func TestCheckDeletableRefusesANodeThatStaysUnreachable(t *testing.T) {
	f := newFx(t, nil)
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 160, Name: "away", Status: "stopped"}))
	require.NoError(t, f.sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 161, Name: "flaky", Status: "stopped"}))
	f.sim.SetFault(pvesim.Fault{VMID: 160, Kind: pvesim.FaultNodeUnreachable, Message: "No route to host"})
	f.sim.SetFault(pvesim.Fault{VMID: 161, Kind: pvesim.FaultNodeUnreachable, Count: 2, Message: "No route to host"})

	var res activities.DeletableResult
	f.execute(t, &res, f.acts.CheckDeletable, target(160, "away"))
	require.Equal(t, pve.ClassNodeUnreachable, res.Class)
	require.Equal(t, "node pve1 does not answer: No route to host", res.Refusal)
	require.Contains(t, texts(res.Lines), "backups and DNS records are kept")
	require.Equal(t, 3, f.requests(160, "GET", "/nodes/{node}/qemu/{vmid}/config"))

	res = activities.DeletableResult{}
	f.execute(t, &res, f.acts.CheckDeletable, target(161, "flaky"))
	require.Empty(t, res.Refusal)
	require.Empty(t, res.Class)
	require.Zero(t, f.requests(161, "DELETE", "/nodes/{node}/qemu/{vmid}"), "the check changes nothing")
}
