// Package workflows holds TerminateWorkflow. It only orchestrates: every
// effect on Proxmox, DNS or the database is an activity.
package workflows

import (
	"time"

	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// a is used only for method references; activities run on workers.
var a *activities.Activities

// run is the state of one workflow execution, exposed by the status query.
type run struct {
	status pipeline.Status
	errors []string // non-blocking errors of the current attempt
	lines  []string // formatted lines of the current attempt, for the action log

	version  workflow.Version // versionOriginal … versionLatest, fixed for the run
	sa       searchState      // the run's search attributes as they are (versionLean)
	segments []segment        // where each attempt's lines start in status.Lines
	attempts int              // attempts this run (not counting earlier runs)
	admin    *adminQueue      // accepted admin Updates (versionChecked)
	vmid     int
	node     string
	grace    graceState // the undo window (versionGrace)
}

// set moves the run to a phase (and vm_status when not empty) and mirrors
// both in the run's search attributes; extra updates (versionLean) go out
// in the same upsert.
func (r *run) set(ctx workflow.Context, phase, vmStatus string, extra ...temporal.SearchAttributeUpdate) {
	changed := phase != r.status.Phase || (vmStatus != "" && vmStatus != r.status.VMStatus)
	r.status.Phase = phase
	if vmStatus != "" {
		r.status.VMStatus = vmStatus
	}
	if r.version >= versionLean {
		r.upsert(ctx, append(r.sa.phaseAndStatus(phase, r.status.VMStatus), extra...)...)
		return
	}
	if !changed {
		return
	}
	upd := []temporal.SearchAttributeUpdate{pipeline.SAPhase.ValueSet(r.status.Phase)}
	if r.status.VMStatus != "" {
		upd = append(upd, pipeline.SAVmStatus.ValueSet(r.status.VMStatus))
	} else {
		upd = append(upd, pipeline.SAVmStatus.ValueUnset())
	}
	r.upsert(ctx, upd...)
}

// upsert sends the updates, if any, as one command.
func (r *run) upsert(ctx workflow.Context, upd ...temporal.SearchAttributeUpdate) {
	if len(upd) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, upd...); err != nil {
		workflow.GetLogger(ctx).Warn("search attributes not updated", "error", err)
	}
}

// setTarget mirrors the VM an attempt works on in VmId and ProxmoxNode.
func (r *run) setTarget(ctx workflow.Context, vmid int, node string) {
	if r.version >= versionLean {
		r.upsert(ctx, r.sa.target(vmid, node)...)
		return
	}
	r.upsert(ctx, pipeline.SAVmID.ValueSet(int64(vmid)), pipeline.SANode.ValueSet(node))
}

func (r *run) add(lines []pipeline.Line) {
	r.status.Lines = append(r.status.Lines, lines...)
	for _, l := range lines {
		r.lines = append(r.lines, l.Format(r.status.ServiceID))
	}
}

// TerminateWorkflow terminates one service's VM: stop, force stop, remove
// backups, delete DNS records, DELETE the VM, clean the database. A failed
// DELETE puts the VM into error_terminate and waits for an admin's signal.
func TerminateWorkflow(ctx workflow.Context, in pipeline.Input) (pipeline.Result, error) {
	if in.ServiceID <= 0 {
		return pipeline.Result{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("service id %d is not positive", in.ServiceID), pipeline.ErrBadInput, nil)
	}
	tm := in.Timing.WithDefaults()
	r := &run{status: pipeline.Status{ServiceID: in.ServiceID, Phase: pipeline.PhaseLoad, VMStatus: dbmodel.StatusTerminate, Lines: []pipeline.Line{}}}
	r.version = workflow.GetVersion(ctx, versionChange, versionOriginal, versionLatest)
	r.sa = startedWith(ctx)
	r.grace = graceState{delay: tm.DestroyDelay, restoreTo: in.RestoreTo, pending: in.Resume == nil,
		restoreCh: workflow.GetSignalChannel(ctx, pipeline.SignalRestore), nowCh: workflow.GetSignalChannel(ctx, pipeline.SignalDestroyNow)}
	if err := workflow.SetQueryHandler(ctx, pipeline.QueryStatus, func() (pipeline.Status, error) {
		return r.status, nil
	}); err != nil {
		return pipeline.Result{}, err
	}
	resetCh := workflow.GetSignalChannel(ctx, pipeline.SignalReset)
	deleteCh := workflow.GetSignalChannel(ctx, pipeline.SignalDelete)
	if err := r.registerUpdates(ctx); err != nil {
		return pipeline.Result{}, err
	}
	if r.version == versionOriginal {
		for {
			ok, err := attempt(ctx, tm, r, resetCh, deleteCh)
			if err != nil {
				return pipeline.Result{}, err
			}
			if ok {
				return r.terminated(ctx), nil
			}
			res, again, err := waitForAdmin(ctx, r, resetCh, deleteCh)
			if err != nil || !again {
				return res, err
			}
		}
	}
	res, err := r.loop(ctx, in, tm, resetCh, deleteCh)
	r.admin.closeAll(ctx, err)
	// An accepted Update answers before the run ends.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return res, err
}

// loop is the run on versionChecked: attempts and admin actions until the
// run ends, or continues as new while it waits.
func (r *run) loop(ctx workflow.Context, in pipeline.Input, tm pipeline.Timing, resetCh, deleteCh workflow.ReceiveChannel) (pipeline.Result, error) {
	waiting := false
	if rs := in.Resume; rs != nil {
		r.resume(ctx, rs)
		waiting = true
	}
	for {
		if !waiting {
			ok, err := attempt(ctx, tm, r, resetCh, deleteCh)
			if err != nil {
				return pipeline.Result{}, err
			}
			if ok {
				return r.terminated(ctx), nil
			}
			if r.grace.restored {
				return pipeline.Result{ServiceID: in.ServiceID, Outcome: "restored", Attempts: r.status.Attempt}, nil
			}
			if r.status.Phase == pipeline.PhaseDone {
				// The attempt failed and its VM row is gone: nothing to wait for.
				return pipeline.Result{}, temporal.NewNonRetryableApplicationError(r.status.LastError, pipeline.ErrRowGone, nil)
			}
		}
		waiting = false
		if r.shouldContinueAsNew(ctx, resetCh, deleteCh) {
			return pipeline.Result{}, workflow.NewContinueAsNewError(ctx, pipeline.WorkflowName, pipeline.Input{
				ServiceID: in.ServiceID, Timing: in.Timing, Resume: r.resumeState()})
		}
		res, again, err := r.waitForAdminChecked(ctx, resetCh, deleteCh)
		if err != nil || !again {
			return res, err
		}
	}
}

// terminated ends the run after an attempt that deleted the VM and
// cleaned the database: result success, vm_status remove.
func (r *run) terminated(ctx workflow.Context) pipeline.Result {
	r.status.Result = "success"
	r.set(ctx, pipeline.PhaseDone, dbmodel.StatusRemove)
	return pipeline.Result{ServiceID: r.status.ServiceID, Outcome: "terminated", Attempts: r.status.Attempt}
}

// attempt runs the pipeline once. ok is true when the VM is deleted and the
// database cleaned; false when the attempt ended in error_terminate.
func attempt(ctx workflow.Context, tm pipeline.Timing, r *run, resetCh, deleteCh workflow.ReceiveChannel) (bool, error) {
	started := workflow.Now(ctx)
	r.errors, r.lines = nil, nil
	r.status.Result = ""
	r.set(ctx, pipeline.PhaseLoad, dbmodel.StatusTerminate)

	var load activities.LoadResult
	if err := r.step(ctx, loadOptions(), a.LoadTarget, r.status.ServiceID).Get(ctx, &load); err != nil {
		r.admin.answerReset(ctx, 0, err)
		return false, err
	}
	t := load.Target
	r.status.Attempt = t.Attempt
	r.beginAttempt(t.Attempt)
	r.vmid, r.node = t.VMID, t.Node
	r.add(load.Lines)
	r.admin.answerReset(ctx, t.Attempt, nil)
	r.setTarget(ctx, t.VMID, t.Node)
	if load.Refusal != "" {
		return fail(ctx, r, resetCh, deleteCh, activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseLoad},
			temporal.NewNonRetryableApplicationError(load.Refusal, pipeline.ErrRefused, nil))
	}

	// Stop VM: graceful, then forced. Never fatal: DELETE decides.
	r.set(ctx, pipeline.PhaseStop, "")
	var stop activities.StopResult
	err := workflow.ExecuteActivity(stopCtx(ctx, tm, tm.StopWindow), a.StopVM, activities.StopInput{Target: t, Timing: tm}).Get(ctx, &stop)
	r.add(stop.Lines)
	ownerVerified := err == nil && !stop.Missing
	if isIdentityMismatch(err) {
		return fail(ctx, r, resetCh, deleteCh, activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseStop}, err)
	}
	if err != nil {
		r.note(ctx, "stop phase failed: %s", errText(err))
	}
	if err != nil || !stop.Stopped {
		r.set(ctx, pipeline.PhaseForceStop, "")
		var force activities.StopResult
		err := workflow.ExecuteActivity(stopCtx(ctx, tm, tm.ForceWindow), a.ForceStopVM,
			activities.StopInput{Target: t, Timing: tm, ShutdownUPID: stop.ShutdownUPID}).Get(ctx, &force)
		r.add(force.Lines)
		ownerVerified = ownerVerified || (err == nil && !force.Missing)
		if isIdentityMismatch(err) {
			return fail(ctx, r, resetCh, deleteCh, activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseForceStop}, err)
		}
		if err != nil {
			r.note(ctx, "force-stop phase failed: %s", errText(err))
		}
	}

	// Will Proxmox accept the DELETE? When it certainly refuses (protection,
	// a VM still running after both windows), the backups and DNS records
	// stay: the attempt ends in error_terminate with Proxmox's reason.
	if r.version >= versionChecked {
		if ended, ok, err := checkDeletable(ctx, r, t, started, resetCh, deleteCh); ended {
			return ok, err
		}
	}

	// The undo window: the VM is stopped, nothing else is touched until the
	// delay ends or an admin restores it. Days may have passed when it
	// ends (protection set, the VM started by hand): ask Proxmox again
	// before anything is destroyed.
	if r.version >= versionGrace && r.grace.due() {
		if restored, err := r.waitGrace(ctx, tm, t); err != nil || restored {
			return false, err
		}
		if ended, ok, err := checkDeletable(ctx, r, t, started, resetCh, deleteCh); ended {
			return ok, err
		}
	}

	// Remove backups, then delete DNS (per zone and per IP): best effort.
	r.set(ctx, pipeline.PhaseBackups, "")
	r.bestEffort(ctx, "backup", workflow.ExecuteActivity(bestEffortCtx(ctx, tm.BackupsWindow), a.RemoveBackups,
		activities.BackupsInput{Target: t, Timing: tm, OwnerVerified: ownerVerified}))
	r.set(ctx, pipeline.PhaseDNS, "")
	r.bestEffort(ctx, "DNS", r.step(ctx, bestEffortOptions(tm.DNSWindow), a.DeleteDNS, t))

	// DELETE VM: the only phase that can fail the attempt. A lost worker
	// (heartbeat or start-to-close timeout) is not Proxmox's answer: the
	// activity is idempotent, so it runs again (bounded) rather than
	// spending the retries meant for Proxmox's transient errors.
	r.set(ctx, pipeline.PhaseDelete, "")
	var del activities.DeleteResult
	for round := 1; ; round++ {
		err = workflow.ExecuteActivity(deleteCtx(ctx, tm), a.DeleteVM, activities.VMInput{Target: t, Timing: tm}).Get(ctx, &del)
		r.add(del.Lines)
		var to *temporal.TimeoutError
		if err == nil || !errors.As(err, &to) || round >= maxDeleteRounds {
			break
		}
		r.note(ctx, "DELETE phase timed out (%s), a worker was lost: running it again (%d/%d)", errText(err), round+1, maxDeleteRounds)
	}
	if err != nil {
		return fail(ctx, r, resetCh, deleteCh, activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseDelete}, err)
	}

	// Clean DB: only after Proxmox confirmed the VM is gone.
	r.set(ctx, pipeline.PhaseCleanDB, "")
	fin := activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseCleanDB, Errors: r.errors, Lines: r.lines}
	var out activities.FinishResult
	if err := r.step(ctx, shortOptions(), a.CleanDB, fin).Get(ctx, &out); err != nil {
		if r.version < versionChecked || !isRowGone(err) {
			return false, err
		}
		// The VM is deleted on Proxmox; its row vanished meanwhile (deleted
		// by hand or another tool): nothing is left to clean.
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "VM deleted; no VM row left to clean: " + errText(err)}})
		r.status.LastError = ""
		return true, nil
	}
	r.add(out.Lines)
	r.status.LastError = ""
	return true, nil
}

// bestEffort waits for a best-effort phase (RemoveBackups, DeleteDNS: both
// answer lines and errors) and keeps what it reports; its failure is a
// line, never the attempt's.
func (r *run) bestEffort(ctx workflow.Context, name string, f workflow.Future) {
	var res struct {
		Errors []string        `json:"errors"`
		Lines  []pipeline.Line `json:"lines"`
	}
	err := f.Get(ctx, &res)
	r.add(res.Lines)
	r.errors = append(r.errors, res.Errors...)
	if err != nil {
		r.note(ctx, "%s phase failed: %s", name, errText(err))
	}
}

// maxDeleteRounds bounds how often a DELETE phase lost to dead workers runs again.
const maxDeleteRounds = 5

// checkDeletable runs the deletability check (versionChecked). ended is
// true when Proxmox would certainly refuse the DELETE or the vmid is no
// longer ours: the attempt failed, and ok and err are fail's answer.
func checkDeletable(ctx workflow.Context, r *run, t pipeline.Target, started time.Time, resetCh, deleteCh workflow.ReceiveChannel) (ended, ok bool, err error) {
	r.set(ctx, pipeline.PhaseCheckDelete, "")
	var chk activities.DeletableResult
	err = r.step(ctx, checkOptions(), a.CheckDeletable, t).Get(ctx, &chk)
	r.add(chk.Lines)
	if err == nil && chk.Refusal != "" {
		// The attempt fails in the DELETE phase, ahead of time.
		ok, err = fail(ctx, r, resetCh, deleteCh, activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseDelete},
			temporal.NewNonRetryableApplicationError(chk.Refusal, chk.Class, nil))
		return true, ok, err
	}
	if isIdentityMismatch(err) {
		ok, err = fail(ctx, r, resetCh, deleteCh, activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseCheckDelete}, err)
		return true, ok, err
	}
	if err != nil {
		r.note(ctx, "deletability check failed: %s; the DELETE decides", errText(err))
	}
	return false, false, nil
}

// fail is the failure path: error_terminate, one activity-log entry, the
// action log; then the run waits for an admin.
func fail(ctx workflow.Context, r *run, resetCh, deleteCh workflow.ReceiveChannel, fin activities.FinishInput, cause error) (bool, error) {
	reason := errText(cause)
	r.status.LastError = reason
	rejectPending(ctx, r, resetCh, deleteCh)
	fin.Reason, fin.Errors, fin.Lines = reason, r.errors, r.lines
	var out activities.FinishResult
	if err := r.step(ctx, shortOptions(), a.RecordFailure, fin).Get(ctx, &out); err != nil {
		if r.version < versionChecked || !isRowGone(err) {
			return false, err
		}
		// No row to put into error_terminate: no admin can act on it, so
		// the run ends failed with both reasons.
		r.status.LastError = fmt.Sprintf("attempt %d failed: %s; the failure was not recorded: %s", r.status.Attempt, reason, errText(err))
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: r.status.LastError}})
		r.status.Result = "error"
		r.set(ctx, pipeline.PhaseDone, "")
		return false, nil
	}
	r.add(out.Lines)
	r.status.Result = "error"
	r.set(ctx, pipeline.PhaseWaiting, dbmodel.StatusErrorTerminate)
	return false, nil
}

func isRowGone(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == pipeline.ErrRowGone
}

func isIdentityMismatch(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == pipeline.ErrIdentityMismatch
}

// note records a workflow-level line (no I/O here: the query shows it and
// the workflow logger prints it, replay-safe).
func (r *run) note(ctx workflow.Context, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	r.errors = append(r.errors, text)
	r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: text}})
	workflow.GetLogger(ctx).Warn(text, "service_id", r.status.ServiceID)
}

// waitForAdmin blocks in error_terminate until an admin's signal. again is
// true when the admin re-queued the termination. This is the
// versionOriginal path; waitForAdminChecked replaces it.
func waitForAdmin(ctx workflow.Context, r *run, resetCh, deleteCh workflow.ReceiveChannel) (res pipeline.Result, again bool, err error) {
	id := r.status.ServiceID
	for {
		var target string
		var deleteRecord bool
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(resetCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &target) })
		sel.AddReceive(deleteCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); deleteRecord = true })
		sel.Select(ctx)

		if deleteRecord {
			var out activities.AdminResult
			if err := workflow.ExecuteActivity(shortCtx(ctx), a.DeleteVMRecord, activities.AdminInput{ServiceID: id}).Get(ctx, &out); err != nil {
				return res, false, err
			}
			r.add(out.Lines)
			r.status.VMStatus = ""
			r.set(ctx, pipeline.PhaseDone, "")
			return pipeline.Result{ServiceID: id, Outcome: "record-deleted", Attempts: r.status.Attempt}, false, nil
		}
		target = strings.TrimSpace(target)
		if !slices.Contains(dbmodel.AdminTargets, target) {
			r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: fmt.Sprintf(
				"admin: rejected reset-status %q: expected one of %s; nothing changed", target, strings.Join(dbmodel.AdminTargets, ", "))}})
			continue
		}
		var out activities.AdminResult
		if err := workflow.ExecuteActivity(shortCtx(ctx), a.SetVMStatus, activities.AdminInput{ServiceID: id, Status: target}).Get(ctx, &out); err != nil {
			return res, false, err
		}
		r.add(out.Lines)
		if target == dbmodel.StatusTerminate {
			r.status.VMStatus = target
			return res, true, nil
		}
		r.set(ctx, pipeline.PhaseDone, target)
		outcome := "reset:" + target
		if target == dbmodel.StatusRemove {
			outcome = "removed"
		}
		return pipeline.Result{ServiceID: id, Outcome: outcome, Attempts: r.status.Attempt}, false, nil
	}
}

// rejectPending drops signals that arrived while the attempt was running:
// admin actions apply only to a VM in error_terminate.
func rejectPending(ctx workflow.Context, r *run, resetCh, deleteCh workflow.ReceiveChannel) {
	if r.version >= versionChecked {
		r.rejectPendingChecked(ctx, resetCh, deleteCh)
		return
	}
	for {
		var v string
		if !resetCh.ReceiveAsync(&v) {
			break
		}
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: fmt.Sprintf("admin: ignored reset-status %q sent while the termination was running", v)}})
	}
	for deleteCh.ReceiveAsync(nil) {
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "admin: ignored delete-record sent while the termination was running"}})
	}
}

// errText is the reason an activity failed: the innermost application
// error's message (Proxmox's text), or the timeout.
func errText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return "timed out (" + to.TimeoutType().String() + ")"
	}
	var act *temporal.ActivityError
	if errors.As(err, &act) && errors.Unwrap(act) != nil {
		// A local activity's plain error as the SDK's test suite hands it
		// on; a worker turns it into an application error via the marker.
		return errors.Unwrap(act).Error()
	}
	return err.Error()
}
