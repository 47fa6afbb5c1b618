package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// With the real workflow: a Terminate click on a run waiting in
// error_terminate re-queues the termination through the run's reset-status
// Update. The second attempt runs every phase and adds its own single
// activity-log entry.
func TestTerminateClickRequeuesAWaitingTermination(t *testing.T) {
	h := newHarness(t)
	v, _ := h.seedWaiting(protect)
	reason := fmt.Sprintf("can't remove VM %d - protection mode enabled", v.vmid)
	require.Equal(t, []string{dbmodel.FailurePref + reason}, h.activity(v))

	require.NoError(t, h.st.Sim.UpdateVM(v.vmid, func(s *pvesim.VMSpec) { s.Protection = false }))
	code, out := h.terminateFollow(v)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "success\nvm_status=terminate attempt=2")
	require.Contains(t, out, "[terminate] starting (attempt 2")
	require.Contains(t, out, "result=success")
	svc := h.row(v.id)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
	require.Equal(t, 2, svc.VM.TerminateAttempts)
	require.Equal(t, []string{dbmodel.FailurePref + reason, dbmodel.SuccessText}, h.activity(v))
	require.False(t, h.st.Sim.VMExists(v.vmid))
}

// A click on a waiting run is checked like a first click: a VM that is no
// longer the record's is refused before anything is re-queued.
func TestTerminateClickOnAWaitingRunChecksTheIdentity(t *testing.T) {
	h := newHarness(t)
	v, _ := h.seedWaiting(protect)

	require.NoError(t, h.st.Sim.UpdateVM(v.vmid, func(s *pvesim.VMSpec) { s.Name = "someone-else" }))
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitError, code, out)
	require.Empty(t, out)
	require.Contains(t, errOut, `Proxmox has name "someone-else"`)
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(v.id).VM.VMStatus)
	require.Len(t, h.activity(v), 1)
	code, st, _ := h.starter("status", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code)
	require.Contains(t, st, "phase=waiting-for-admin vm_status=error_terminate attempt=1")
}
