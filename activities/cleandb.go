package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// FinishInput is the input of CleanDB and RecordFailure.
type FinishInput struct {
	Target    pipeline.Target `json:"target"`
	StartedAt time.Time       `json:"started_at"`
	Phase     string          `json:"phase"`
	Reason    string          `json:"reason,omitempty"`
	Errors    []string        `json:"errors"`
	Lines     []string        `json:"lines"` // the attempt's lines so far, for the action log
}

// FinishResult reports whether this call wrote the outcome (false when an
// earlier try of the same attempt already had).
type FinishResult struct {
	Written bool            `json:"written"`
	Lines   []pipeline.Line `json:"lines"`
}

func (in FinishInput) outcome(lines []pipeline.Line) dbmodel.Outcome {
	all := append([]string{}, in.Lines...)
	for _, l := range lines {
		all = append(all, l.Format(in.Target.ServiceID))
	}
	return dbmodel.Outcome{
		ServiceID: in.Target.ServiceID, UserID: in.Target.UserID, Attempt: in.Target.Attempt,
		StartedAt: in.StartedAt, Duration: time.Since(in.StartedAt), Phase: in.Phase,
		Reason: in.Reason, Errors: in.Errors, Lines: all,
	}
}

// finish writes the outcome of the attempt with write: its lines so far
// and done, the run's last line with the result. written is false when an
// earlier try already wrote it; the result is counted once.
func finish(ctx context.Context, in FinishInput, l *lines, result string,
	write func(context.Context, dbmodel.Outcome) (bool, error)) (done string, written bool, err error) {
	done = fmt.Sprintf("[terminate] done (%.2fs) result=%s", time.Since(in.StartedAt).Seconds(), result)
	o := in.outcome(append(l.list, pipeline.Line{At: time.Now().UTC(), Text: done}))
	written, err = write(ctx, o)
	if err != nil {
		return done, false, dbErr(err)
	}
	if written {
		metrics(ctx).WithTags(map[string]string{"result": result}).Counter("terminate_results_total").Inc(1)
	}
	return done, written, nil
}

// CleanDB runs only after Proxmox confirmed the VM is gone. In one
// transaction it wipes tblhosting.dedicatedip/assignedips/domain, clears the
// VM row's identity, sets vm_status='remove', writes exactly one activity-log
// entry and the action log.
func (a *Activities) CleanDB(ctx context.Context, in FinishInput) (FinishResult, error) {
	l := a.newLines(ctx, in.Target, pipeline.PhaseCleanDB)
	l.add("cleaning database")
	done, written, err := finish(ctx, in, l, "success", a.Store.FinishSuccess)
	if err != nil {
		return FinishResult{}, err
	}
	if !written {
		l.add("database was already cleaned by an earlier try of attempt %d", in.Target.Attempt)
	}
	l.add("%s", done)
	return FinishResult{Written: written, Lines: l.list}, nil
}

// RecordFailure is the failure path: vm_status='error_terminate', exactly one
// activity-log entry "Service termination FAILED — admin attention required.
// Error: <reason>", the action log with the error. IPs, domain and vmid stay.
func (a *Activities) RecordFailure(ctx context.Context, in FinishInput) (FinishResult, error) {
	in.Reason = a.Secrets.Redact(in.Reason)
	l := a.newLines(ctx, in.Target, in.Phase)
	l.add("termination FAILED in phase %s: %s", in.Phase, in.Reason)
	done, written, err := finish(ctx, in, l, "error", a.Store.FinishFailure)
	if err != nil {
		return FinishResult{}, err
	}
	l.add("%s", done)
	l.add("vm_status=error_terminate: IPs stay allocated; waiting for an admin (reset-status or delete-record)")
	return FinishResult{Written: written, Lines: l.list}, nil
}
