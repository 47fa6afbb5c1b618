package activities

import (
	"context"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// AdminInput is the input of the admin actions.
type AdminInput struct {
	ServiceID int    `json:"service_id"`
	Status    string `json:"status,omitempty"`
}

// AdminResult carries the action's lines.
type AdminResult struct {
	Lines []pipeline.Line `json:"lines"`
}

// SetVMStatus is "Reset VM Status": it sets vm_status and touches nothing
// on Proxmox or in tblhosting.
func (a *Activities) SetVMStatus(ctx context.Context, in AdminInput) (AdminResult, error) {
	if !slices.Contains(dbmodel.AdminTargets, in.Status) {
		return AdminResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown status %q", in.Status), pipeline.ErrBadInput, nil)
	}
	if err := a.Store.SetStatus(ctx, in.ServiceID, in.Status); err != nil {
		return AdminResult{}, dbErr(err)
	}
	l := a.newLines(ctx, pipeline.Target{ServiceID: in.ServiceID}, "admin")
	l.add("admin: vm_status set to %s", in.Status)
	return AdminResult{Lines: l.list}, nil
}

// DeleteVMRecord is "Delete Record": it removes the VM row only; it touches
// neither Proxmox nor tblhosting.
func (a *Activities) DeleteVMRecord(ctx context.Context, in AdminInput) (AdminResult, error) {
	if err := a.Store.DeleteRecord(ctx, in.ServiceID); err != nil {
		return AdminResult{}, dbErr(err)
	}
	l := a.newLines(ctx, pipeline.Target{ServiceID: in.ServiceID}, "admin")
	l.add("admin: VM record deleted (Proxmox and tblhosting untouched)")
	return AdminResult{Lines: l.list}, nil
}
