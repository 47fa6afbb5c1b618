package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// graceState is the undo window of a run (versionGrace).
type graceState struct {
	delay     time.Duration // Timing.DestroyDelay of the run; 0: no undo window
	restoreTo string        // Input.RestoreTo
	pending   bool          // the window is still to come (once per run, never in a resumed run)
	ended     *time.Time    // when the window ended (deadline or destroy-now)
	restored  bool          // the run ends "restored"
	restoreCh workflow.ReceiveChannel
	nowCh     workflow.ReceiveChannel
}

// due reports whether this attempt waits out the undo window.
func (g *graceState) due() bool { return g.delay > 0 && g.pending }

// graceRequest is an accepted restore or destroy-now (its answer is the
// adminRequest's reply).
type graceRequest struct {
	restore bool
}

// acceptsGrace is the validator of the undo window's Updates: the reason,
// with ErrNotInGrace, why the run cannot restore or skip the wait now.
func (r *run) acceptsGrace(name string) error {
	reject := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), pipeline.ErrNotInGrace, nil)
	}
	switch {
	case r.version < versionGrace:
		return reject("%s: this run predates the undo window; nothing to undo", name)
	case r.grace.delay <= 0:
		return reject("%s: this run has no undo window (timing.destroy_delay was 0 when it started)", name)
	case r.status.Phase == pipeline.PhaseGrace && r.admin.busy:
		return reject("%s: another admin action is being applied", name)
	case r.status.Phase == pipeline.PhaseGrace:
		return nil
	case r.grace.ended != nil:
		return reject("%s: the undo window ended at %s (phase %s); the VM is being or was destroyed", name,
			r.grace.ended.UTC().Format(time.RFC3339), r.status.Phase)
	case r.grace.pending:
		return reject("%s: the undo window has not begun (phase %s); it begins once the VM is stopped", name, r.status.Phase)
	}
	return reject("%s: the run is not in its undo window (phase %s)", name, r.status.Phase)
}

// registerGraceUpdates installs admin-restore and admin-destroy-now.
func (r *run) registerGraceUpdates(ctx workflow.Context) error {
	submit := func(ctx workflow.Context, restore bool) (pipeline.AdminReply, error) {
		f, s := workflow.NewFuture(ctx)
		r.admin.busy = true
		r.admin.ch.SendAsync(adminRequest{grace: &graceRequest{restore: restore}, reply: s})
		var reply pipeline.AdminReply
		err := f.Get(ctx, &reply)
		return reply, err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, pipeline.UpdateRestore,
		func(ctx workflow.Context) (pipeline.AdminReply, error) { return submit(ctx, true) },
		workflow.UpdateHandlerOptions{Validator: func() error { return r.acceptsGrace("restore") }})
	if err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, pipeline.UpdateDestroyNow,
		func(ctx workflow.Context) (pipeline.AdminReply, error) { return submit(ctx, false) },
		workflow.UpdateHandlerOptions{Validator: func() error { return r.acceptsGrace("destroy-now") }})
}

// waitGrace is the undo window: vm_status 'grace', a durable timer of the
// run's delay, and the restore and destroy-now requests. restored is true
// when the VM runs again and the row is back to its status before the
// click; false when the termination goes on.
func (r *run) waitGrace(ctx workflow.Context, tm pipeline.Timing, t pipeline.Target) (restored bool, err error) {
	g := &r.grace
	g.pending = false
	r.dropGraceSignals(ctx, "sent before the undo window")
	until := workflow.Now(ctx).Add(g.delay).UTC()
	var out activities.GraceResult
	if err := r.step(ctx, shortOptions(), a.EnterGrace, activities.GraceInput{Target: t, Until: until}).Get(ctx, &out); err != nil {
		return false, err
	}
	r.add(out.Lines)
	r.status.GraceUntil = &until
	r.setGrace(ctx, &until, pipeline.PhaseGrace, dbmodel.StatusGrace)

	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(timerCtx, g.delay)
	for {
		var req adminRequest
		fired := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) { fired = true })
		sel.AddReceive(g.restoreCh, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			req.grace = &graceRequest{restore: true}
		})
		sel.AddReceive(g.nowCh, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			req.grace = &graceRequest{}
		})
		sel.AddReceive(r.admin.ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &req) })
		sel.Select(ctx)

		switch {
		case fired:
			r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "undo window over: the termination goes on"}})
			return false, r.leaveGrace(ctx, t, nil)
		case req.grace == nil:
			// Only the undo window's requests are accepted here.
			r.admin.settle(req.reply, pipeline.AdminReply{}, temporal.NewNonRetryableApplicationError(
				"the run is in its undo window: admin actions apply to a VM in error_terminate only", pipeline.ErrNotWaiting, nil))
		case !req.grace.restore:
			cancelTimer()
			r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "admin: destroy-now: the rest of the undo window skipped"}})
			return false, r.leaveGrace(ctx, t, req.reply)
		default:
			ok, err := r.restore(ctx, tm, t, req.reply)
			if err != nil || ok {
				cancelTimer()
				return ok, err
			}
		}
	}
}

// restore starts the VM again and writes the restore. ok is false when
// Proxmox did not start it: the run stays in its undo window.
func (r *run) restore(ctx workflow.Context, tm pipeline.Timing, t pipeline.Target, reply workflow.Settable) (ok bool, err error) {
	var st activities.StartResult
	err = workflow.ExecuteActivity(startCtx(ctx, tm), a.StartVM, activities.VMInput{Target: t, Timing: tm}).Get(ctx, &st)
	r.add(st.Lines)
	if err != nil {
		msg := fmt.Sprintf("admin: restore failed: %s; still in the undo window until %s", errText(err), r.status.GraceUntil.Format(time.RFC3339))
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: msg}})
		r.admin.settle(reply, pipeline.AdminReply{}, temporal.NewNonRetryableApplicationError(msg, pipeline.ErrRestoreFailed, nil))
		return false, nil
	}
	var out activities.GraceResult
	to := activities.RestoreTarget(r.grace.restoreTo)
	if err := r.step(ctx, shortOptions(), a.RecordRestore, activities.GraceInput{Target: t, To: to}).Get(ctx, &out); err != nil {
		r.admin.settle(reply, pipeline.AdminReply{}, err)
		return false, err
	}
	r.add(out.Lines)
	r.grace.restored = true
	r.status.GraceUntil = nil
	r.status.Result = "restored"
	r.status.LastError = ""
	r.setGrace(ctx, nil, pipeline.PhaseDone, to)
	r.admin.settle(reply, pipeline.AdminReply{VMStatus: to, Line: lastText(r.status.Lines)}, nil)
	return true, nil
}

// leaveGrace ends the undo window with the termination going on:
// vm_status 'terminate' again; what was sent too late is refused.
func (r *run) leaveGrace(ctx workflow.Context, t pipeline.Target, reply workflow.Settable) error {
	now := workflow.Now(ctx).UTC()
	r.grace.ended = &now
	var out activities.GraceResult
	if err := r.step(ctx, shortOptions(), a.LeaveGrace, activities.GraceInput{Target: t}).Get(ctx, &out); err != nil {
		r.admin.settle(reply, pipeline.AdminReply{}, err)
		return err
	}
	r.add(out.Lines)
	r.status.GraceUntil = nil
	r.status.VMStatus = dbmodel.StatusTerminate
	r.setGrace(ctx, nil, pipeline.PhaseBackups, "")
	r.admin.settle(reply, pipeline.AdminReply{VMStatus: dbmodel.StatusTerminate, Line: lastText(r.status.Lines)}, nil)
	r.dropGraceSignals(ctx, "sent after the undo window ended")
	for {
		var req adminRequest
		if !r.admin.ch.ReceiveAsync(&req) {
			return nil
		}
		r.admin.settle(req.reply, pipeline.AdminReply{}, temporal.NewNonRetryableApplicationError(
			"the undo window ended at "+now.Format(time.RFC3339)+" before the request was applied: the termination goes on", pipeline.ErrNotInGrace, nil))
	}
}

// dropGraceSignals drops restore and destroy-now signals sent outside the
// undo window, each with a line.
func (r *run) dropGraceSignals(ctx workflow.Context, when string) {
	for r.grace.restoreCh.ReceiveAsync(nil) {
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "admin: ignored restore " + when}})
	}
	for r.grace.nowCh.ReceiveAsync(nil) {
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "admin: ignored destroy-now " + when}})
	}
}
