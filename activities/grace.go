package activities

import (
	"context"
	"slices"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// GraceInput is the input of EnterGrace, LeaveGrace and RecordRestore.
type GraceInput struct {
	Target pipeline.Target `json:"target"`
	Until  time.Time       `json:"until,omitzero"`       // EnterGrace: the end of the undo window
	To     string          `json:"restore_to,omitempty"` // RecordRestore: the vm_status before the click
}

// GraceResult carries the step's lines.
type GraceResult struct {
	Lines []pipeline.Line `json:"lines"`
}

// EnterGrace sets vm_status='grace': the VM is stopped and waits out the
// undo window. Backups, DNS, IPs and the VM stay as they are.
func (a *Activities) EnterGrace(ctx context.Context, in GraceInput) (GraceResult, error) {
	if err := a.Store.SetStatus(ctx, in.Target.ServiceID, dbmodel.StatusGrace); err != nil {
		return GraceResult{}, dbErr(err)
	}
	l := a.newLines(ctx, in.Target, pipeline.PhaseGrace)
	l.add("undo window: VM stopped, backups, DNS and IPs kept; destroyed at %s unless restored (starter restore)", in.Until.UTC().Format(time.RFC3339))
	return GraceResult{Lines: l.list}, nil
}

// LeaveGrace sets vm_status='terminate' again when the undo window ends:
// the termination goes on.
func (a *Activities) LeaveGrace(ctx context.Context, in GraceInput) (GraceResult, error) {
	if err := a.Store.SetStatus(ctx, in.Target.ServiceID, dbmodel.StatusTerminate); err != nil {
		return GraceResult{}, dbErr(err)
	}
	l := a.newLines(ctx, in.Target, pipeline.PhaseGrace)
	l.add("undo window over: vm_status=terminate, destroying")
	return GraceResult{Lines: l.list}, nil
}

// RecordRestore writes a restore, once the VM runs again: vm_status back to
// what it was before the click and one activity-log entry (idempotent).
func (a *Activities) RecordRestore(ctx context.Context, in GraceInput) (GraceResult, error) {
	to := RestoreTarget(in.To)
	if _, err := a.Store.Restore(ctx, in.Target.ServiceID, in.Target.UserID, to); err != nil {
		return GraceResult{}, dbErr(err)
	}
	l := a.newLines(ctx, in.Target, pipeline.PhaseGrace)
	l.add("restored: vm_status=%s; set the service back to Active in WHMCS", to)
	return GraceResult{Lines: l.list}, nil
}

// RestoreTarget is the vm_status a restore writes: the status before the
// click when an admin could set it and it is not a termination's, else ready.
func RestoreTarget(before string) string {
	if before == dbmodel.StatusTerminate || before == dbmodel.StatusRemove || !slices.Contains(dbmodel.AdminTargets, before) {
		return "ready"
	}
	return before
}
