package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// LoadResult is the VM an attempt terminates, and its first lines.
type LoadResult struct {
	Target pipeline.Target `json:"target"`
	Lines  []pipeline.Line `json:"lines"`
	// Refusal, when set, is why this attempt cannot touch Proxmox although
	// the row exists (no identity on the row, its server not configured):
	// the workflow records it as a failed attempt (error_terminate).
	Refusal string `json:"refusal,omitempty"`
}

// LoadTarget reads the service and its VM row and starts an attempt. It
// fails (without retry) for a service that is gone, has no VM row, or was
// removed: there is nothing to record an outcome on.
func (a *Activities) LoadTarget(ctx context.Context, serviceID int) (LoadResult, error) {
	svc, err := a.Store.LoadService(ctx, serviceID)
	if errors.Is(err, dbmodel.ErrNotFound) {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(err.Error(), pipeline.ErrNotFound, nil)
	}
	if err != nil {
		return LoadResult{}, err
	}
	vm := svc.VM
	if vm.VMStatus == dbmodel.StatusRemove {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("service %d: VM row is already 'remove'", serviceID), pipeline.ErrAlreadyRemoved, nil)
	}
	ips, _ := ParseIPs(svc.Hosting.DedicatedIP, svc.Hosting.AssignedIPs, vm.IPv4, vm.IPv6)
	t := pipeline.Target{
		ServiceID: serviceID, UserID: svc.Hosting.UserID, Server: vm.Server, Node: vm.Node, VMID: vm.VMID,
		VMName: vm.VMName, VMUUID: vm.VMUUID, Domain: svc.Hosting.Domain, IPs: ips,
		VMStatus: vm.VMStatus, Attempt: vm.TerminateAttempts + 1,
	}
	l := a.newLines(ctx, t, pipeline.PhaseLoad)
	l.add("[terminate] starting (attempt %d, vmid %d on %s/%s)", t.Attempt, t.VMID, t.Server, t.Node)
	res := LoadResult{Target: t}
	if vm.VMID <= 0 || vm.Node == "" || vm.Server == "" {
		res.Refusal = fmt.Sprintf("the VM row has no vmid/node/server (vmid=%d node=%q server=%q)", vm.VMID, vm.Node, vm.Server)
	} else if _, err := a.client(vm.Server); err != nil {
		res.Refusal = err.Error()
	}
	res.Lines = l.list
	return res, nil
}
