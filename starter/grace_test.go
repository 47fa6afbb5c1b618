package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// graceHarness is a harness whose runs keep the VM for delay before they
// destroy it.
func graceHarness(t *testing.T, delay time.Duration) *harness {
	t.Helper()
	e := stack.NewEnv(t, stack.EnvOptions{})
	tm := stack.FastTiming()
	tm.DestroyDelay = delay
	st := e.Start(stack.Options{Timing: tm, DNS: nil})
	return &harness{t: t, st: st, store: e.Store, pdns: e.PDNS, out: e.Out, env: e}
}

// clickIntoGrace clicks terminate and waits until the row is in grace.
func (h *harness) clickIntoGrace(v vm) {
	h.t.Helper()
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(h.t, exitOK, code, errOut)
	require.Equal(h.t, "success\n", out)
	require.Eventually(h.t, func() bool { return h.row(v.id).VM.VMStatus == dbmodel.StatusGrace }, 30*time.Second, 50*time.Millisecond)
}

func (h *harness) vmState(v vm) string {
	h.t.Helper()
	st, ok := h.st.Sim.VM("pve1", v.vmid)
	require.True(h.t, ok, "VM %d is gone", v.vmid)
	return st.Status
}

// outcome waits for the service's run to end and returns its outcome.
func (h *harness) outcome(v vm) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res pipeline.Result
	require.NoError(h.t, h.env.Dev.Client().GetWorkflow(ctx, pipeline.WorkflowID(v.id), "").Get(ctx, &res))
	return res.Outcome
}

// During the undo window the VM is stopped and everything else is kept;
// status and list show the deadline; restore starts the VM again, puts
// vm_status back to ready, writes one activity-log entry and ends the run.
func TestRestoreDuringTheUndoWindow(t *testing.T) {
	h := graceHarness(t, time.Hour)
	v := h.seed(200 * time.Millisecond)
	h.clickIntoGrace(v)
	require.Equal(t, "stopped", h.vmState(v))
	require.Contains(t, h.records("example.com"), v.fqdn)
	require.Equal(t, v.ip4, h.row(v.id).Hosting.DedicatedIP)

	code, out, errOut := h.starter("status", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "phase=grace vm_status=grace")
	require.Contains(t, out, "undo window until ")

	code, out, errOut = h.starter("status", "--service-id", fmt.Sprint(v.id), "--json")
	require.Equal(t, exitOK, code, errOut)
	var status StatusJSON
	require.NoError(t, json.Unmarshal([]byte(out), &status))
	require.Equal(t, pipeline.PhaseGrace, status.Phase)
	require.NotNil(t, status.GraceUntil)

	code, out, errOut = h.starter("list", "--search", fmt.Sprint(v.id), "--json")
	require.Equal(t, exitOK, code, errOut)
	var list ListJSON
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list.Rows, 1)
	require.NotNil(t, list.Rows[0].GraceUntil)
	require.WithinDuration(t, time.Now().Add(time.Hour), *list.Rows[0].GraceUntil, time.Minute)
	require.Equal(t, status.GraceUntil.UTC(), list.Rows[0].GraceUntil.UTC())
	code, out, _ = h.starter("list", "--search", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "grace until "+list.Rows[0].GraceUntil.UTC().Format("2006-01-02 15:04"))

	code, out, errOut = h.starter("restore", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.True(t, strings.HasPrefix(out, "success\nvm_status=ready: "), out)
	require.Equal(t, "restored", h.outcome(v))
	require.Equal(t, "running", h.vmState(v))
	row := h.row(v.id)
	require.Equal(t, "ready", row.VM.VMStatus)
	require.Equal(t, v.vmid, row.VM.VMID)
	require.Equal(t, v.ip4, row.Hosting.DedicatedIP)
	require.Contains(t, h.records("example.com"), v.fqdn)
	require.Equal(t, []string{dbmodel.RestoredText}, h.activity(v))
	require.Len(t, h.st.Sim.Backups(v.vmid), 2)

	// The run is over: a second restore is refused with one line.
	code, out, errOut = h.starter("restore", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitError, code)
	require.Empty(t, out)
	require.Equal(t, fmt.Sprintf("error: service %d: no termination run is open (vm_status=ready): restore applies only during the undo window (phase grace)\n", v.id), errOut)
}

// terminate --now skips the rest of the window; afterwards restore and
// --now are refused.
func TestTerminateNowEndsTheUndoWindow(t *testing.T) {
	h := graceHarness(t, time.Hour)
	v := h.seed(200 * time.Millisecond)
	h.clickIntoGrace(v)
	code, out, errOut := h.starter("terminate", "--now", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.True(t, strings.HasPrefix(out, "success\nvm_status=terminate: "), out)
	require.Equal(t, "terminated", h.outcome(v))
	require.Equal(t, dbmodel.StatusRemove, h.row(v.id).VM.VMStatus)
	require.Equal(t, []string{dbmodel.SuccessText}, h.activity(v))

	refusesTheUndoWindowCalls(t, h, v, "no termination run is open")
	require.Equal(t, dbmodel.StatusRemove, h.row(v.id).VM.VMStatus)
}

// Restore after the deadline (the run waits in error_terminate: the VM
// was protected during the window, Proxmox refused the DELETE) is refused
// by the run with the time the window ended.
func TestRestoreAfterTheDeadlineIsRefused(t *testing.T) {
	h := graceHarness(t, 3*time.Second)
	v := h.seed(200 * time.Millisecond)
	h.clickIntoGrace(v)
	require.NoError(t, h.st.Sim.UpdateVM(v.vmid, func(s *pvesim.VMSpec) { s.Protection = true }))
	require.Eventually(t, func() bool { return h.row(v.id).VM.VMStatus == dbmodel.StatusErrorTerminate }, time.Minute, 100*time.Millisecond)
	refusesTheUndoWindowCalls(t, h, v, "the undo window ended at ")
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(v.id).VM.VMStatus)
	require.Equal(t, "stopped", h.vmState(v))
}

// A run started without a destroy delay has no undo window.
func TestRestoreWithoutADelayIsRefused(t *testing.T) {
	h := newHarness(t)
	v, _ := h.seedWaiting(protect)
	refusesTheUndoWindowCalls(t, h, v, "this run has no undo window (timing.destroy_delay was 0 when it started)")
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(v.id).VM.VMStatus)
	require.Equal(t, []string{dbmodel.FailurePref + fmt.Sprintf("can't remove VM %d - protection mode enabled", v.vmid)}, h.activity(v))
}

// refusesTheUndoWindowCalls: restore and terminate --now on service v each
// exit 1 with one line that contains reason, and print nothing.
func refusesTheUndoWindowCalls(t *testing.T, h *harness, v vm, reason string) {
	t.Helper()
	for _, args := range [][]string{{"restore"}, {"terminate", "--now"}} {
		code, out, errOut := h.starter(append(args, "--service-id", fmt.Sprint(v.id))...)
		require.Equal(t, exitError, code, args)
		require.Empty(t, out)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		require.Contains(t, errOut, reason)
	}
}
