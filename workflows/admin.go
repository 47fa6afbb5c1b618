package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// adminRequest is one accepted admin action: an Update (reply set) or a
// signal (reply nil).
type adminRequest struct {
	deleteRecord bool
	target       string
	grace        *graceRequest // a restore or destroy-now (versionGrace)
	reply        workflow.Settable
}

// adminQueue holds the accepted admin Updates until the run acts on them.
type adminQueue struct {
	ch      workflow.Channel
	busy    bool              // an accepted Update is not answered yet
	pending workflow.Settable // a reset to terminate, answered once the new attempt started
}

func (q *adminQueue) settle(s workflow.Settable, reply pipeline.AdminReply, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.SetError(err)
	} else {
		s.SetValue(reply)
	}
	q.busy = false
}

// answerReset answers the reset to terminate that started this attempt.
func (q *adminQueue) answerReset(ctx workflow.Context, attempt int, err error) {
	if q == nil || q.pending == nil {
		return
	}
	p := q.pending
	q.pending = nil
	q.settle(p, pipeline.AdminReply{VMStatus: dbmodel.StatusTerminate, Attempt: attempt,
		Line: fmt.Sprintf("admin: re-queued; attempt %d started", attempt)}, err)
}

// closeAll answers what is still open when the run ends.
func (q *adminQueue) closeAll(ctx workflow.Context, cause error) {
	if q == nil {
		return
	}
	err := cause
	if err == nil {
		err = temporal.NewNonRetryableApplicationError("the run ended before acting on the request", pipeline.ErrNotWaiting, nil)
	}
	q.answerReset(ctx, 0, err)
	for {
		var req adminRequest
		if !q.ch.ReceiveAsync(&req) {
			return
		}
		q.settle(req.reply, pipeline.AdminReply{}, err)
	}
}

// registerUpdates installs the admin Updates. Their validators reject, with
// the reason, what the run cannot do now; the handlers answer once the run
// has acted. Runs on versionOriginal reject them (they know only signals).
func (r *run) registerUpdates(ctx workflow.Context) error {
	if r.version >= versionChecked {
		r.admin = &adminQueue{ch: workflow.NewBufferedChannel(ctx, 8)}
	}
	accepts := func() error {
		switch {
		case r.admin == nil:
			return temporal.NewNonRetryableApplicationError("this run predates admin Updates: send the reset-status or delete-record signal", pipeline.ErrNotWaiting, nil)
		case r.status.Phase != pipeline.PhaseWaiting:
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the run is not waiting in error_terminate (phase %s): admin actions apply to a VM in error_terminate only", r.status.Phase), pipeline.ErrNotWaiting, nil)
		case r.admin.busy:
			return temporal.NewNonRetryableApplicationError("another admin action is being applied", pipeline.ErrNotWaiting, nil)
		}
		return nil
	}
	submit := func(ctx workflow.Context, req adminRequest) (pipeline.AdminReply, error) {
		f, s := workflow.NewFuture(ctx)
		req.reply = s
		r.admin.busy = true
		r.admin.ch.SendAsync(req)
		var reply pipeline.AdminReply
		err := f.Get(ctx, &reply)
		return reply, err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, pipeline.UpdateResetStatus,
		func(ctx workflow.Context, target string) (pipeline.AdminReply, error) {
			return submit(ctx, adminRequest{target: strings.TrimSpace(target)})
		},
		workflow.UpdateHandlerOptions{Validator: func(target string) error {
			if err := accepts(); err != nil {
				return err
			}
			if t := strings.TrimSpace(target); !slices.Contains(dbmodel.AdminTargets, t) {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("reset-status %q: expected one of %s", t, strings.Join(dbmodel.AdminTargets, ", ")), pipeline.ErrBadInput, nil)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, pipeline.UpdateDeleteRecord,
		func(ctx workflow.Context) (pipeline.AdminReply, error) {
			return submit(ctx, adminRequest{deleteRecord: true})
		},
		workflow.UpdateHandlerOptions{Validator: func() error { return accepts() }})
	if err != nil {
		return err
	}
	return r.registerGraceUpdates(ctx)
}

// decodeReset reads a reset-status signal's payload. ok is false when it is
// not a JSON string; shown is how a line names the payload.
func decodeReset(raw converter.RawValue) (target, shown string, ok bool) {
	p := raw.Payload()
	if p == nil {
		return "", `""`, true
	}
	if err := converter.GetDefaultDataConverter().FromPayload(p, &target); err != nil {
		data := string(p.GetData())
		if len(data) > 64 {
			data = data[:64] + "…"
		}
		return "", data, false
	}
	return target, quoted(target), true
}

// quoted names a target in a line: quoted, at most 64 bytes of it.
func quoted(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q…", s[:64])
	}
	return fmt.Sprintf("%q", s)
}

func (r *run) rejectLine(ctx workflow.Context, shown, why string) {
	r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: fmt.Sprintf("admin: rejected reset-status %s: %s; nothing changed", shown, why)}})
}

// rejectPendingChecked drops the signals and Updates that arrived while
// the attempt was running, each with a line.
func (r *run) rejectPendingChecked(ctx workflow.Context, resetCh, deleteCh workflow.ReceiveChannel) {
	for {
		var raw converter.RawValue
		if !resetCh.ReceiveAsync(&raw) {
			break
		}
		_, shown, _ := decodeReset(raw)
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: fmt.Sprintf("admin: ignored reset-status %s sent while the termination was running", shown)}})
	}
	for deleteCh.ReceiveAsync(nil) {
		r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "admin: ignored delete-record sent while the termination was running"}})
	}
	for {
		var req adminRequest
		if !r.admin.ch.ReceiveAsync(&req) {
			break
		}
		r.admin.settle(req.reply, pipeline.AdminReply{}, temporal.NewNonRetryableApplicationError(
			"another admin action re-queued the termination first: nothing changed", pipeline.ErrNotWaiting, nil))
	}
}

// waitForAdminChecked blocks in error_terminate until an admin's signal or
// Update. again is true when the admin re-queued the termination (an
// Update's answer then waits for the new attempt's number).
func (r *run) waitForAdminChecked(ctx workflow.Context, resetCh, deleteCh workflow.ReceiveChannel) (res pipeline.Result, again bool, err error) {
	id := r.status.ServiceID
	for {
		var req adminRequest
		valid := true
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(resetCh, func(c workflow.ReceiveChannel, _ bool) {
			var raw converter.RawValue
			c.Receive(ctx, &raw)
			target, shown, ok := decodeReset(raw)
			req.target = strings.TrimSpace(target)
			switch {
			case !ok:
				r.rejectLine(ctx, shown, "not a JSON string, expected one of "+strings.Join(dbmodel.AdminTargets, ", "))
				valid = false
			case !slices.Contains(dbmodel.AdminTargets, req.target):
				r.rejectLine(ctx, quoted(req.target), "expected one of "+strings.Join(dbmodel.AdminTargets, ", "))
				valid = false
			}
		})
		sel.AddReceive(deleteCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); req.deleteRecord = true })
		sel.AddReceive(r.admin.ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &req) })
		sel.Select(ctx)
		if !valid {
			continue
		}
		if req.grace != nil {
			r.admin.settle(req.reply, pipeline.AdminReply{}, temporal.NewNonRetryableApplicationError(
				"the run waits in error_terminate: its undo window is over", pipeline.ErrNotInGrace, nil))
			continue
		}

		if req.deleteRecord {
			var out activities.AdminResult
			err := r.step(ctx, shortOptions(), a.DeleteVMRecord, activities.AdminInput{ServiceID: id}).Get(ctx, &out)
			switch {
			case isRowGone(err):
				out.Lines = []pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: "admin: delete-record: the VM row was already gone"}}
			case err != nil:
				r.admin.settle(req.reply, pipeline.AdminReply{}, err)
				return res, false, err
			}
			r.add(out.Lines)
			r.status.VMStatus = ""
			r.set(ctx, pipeline.PhaseDone, "")
			r.admin.settle(req.reply, pipeline.AdminReply{Line: lastText(r.status.Lines)}, nil)
			return pipeline.Result{ServiceID: id, Outcome: "record-deleted", Attempts: r.status.Attempt}, false, nil
		}
		target := req.target
		var out activities.AdminResult
		if err := r.step(ctx, shortOptions(), a.SetVMStatus, activities.AdminInput{ServiceID: id, Status: target}).Get(ctx, &out); err != nil {
			if isRowGone(err) {
				msg := fmt.Sprintf("admin: reset-status %q: the VM row is gone: %s; the run ends", target, errText(err))
				r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: msg}})
				r.status.VMStatus = ""
				r.set(ctx, pipeline.PhaseDone, "")
				err = temporal.NewNonRetryableApplicationError(msg, pipeline.ErrRowGone, nil)
			}
			r.admin.settle(req.reply, pipeline.AdminReply{}, err)
			return res, false, err
		}
		r.add(out.Lines)
		if target == dbmodel.StatusTerminate {
			r.status.VMStatus = target
			r.admin.pending = req.reply
			return res, true, nil
		}
		r.set(ctx, pipeline.PhaseDone, target)
		r.admin.settle(req.reply, pipeline.AdminReply{VMStatus: target, Line: lastText(r.status.Lines)}, nil)
		outcome := "reset:" + target
		if target == dbmodel.StatusRemove {
			outcome = "removed"
		}
		return pipeline.Result{ServiceID: id, Outcome: outcome, Attempts: r.status.Attempt}, false, nil
	}
}

func lastText(lines []pipeline.Line) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1].Text
}
