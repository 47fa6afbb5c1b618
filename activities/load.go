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
}

// LoadTarget reads the service and its VM row and starts an attempt. It
// refuses (without retry) a service that is gone, has no VM, or was removed.
func (a *Activities) LoadTarget(ctx context.Context, serviceID int) (LoadResult, error) {
	svc, err := a.Store.LoadService(ctx, serviceID)
	if errors.Is(err, dbmodel.ErrNotFound) {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "not_found", nil)
	}
	if err != nil {
		return LoadResult{}, err
	}
	vm := svc.VM
	if vm.VMStatus == dbmodel.StatusRemove {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("service %d: VM row is already 'remove'", serviceID), "already_removed", nil)
	}
	if vm.VMID <= 0 || vm.Node == "" || vm.Server == "" {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("service %d: VM row has no vmid/node/server (vmid=%d node=%q server=%q)", serviceID, vm.VMID, vm.Node, vm.Server),
			"no_identity", nil)
	}
	if _, err := a.client(vm.Server); err != nil {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "config", nil)
	}
	ips, _ := ParseIPs(svc.Hosting.DedicatedIP, svc.Hosting.AssignedIPs, vm.IPv4, vm.IPv6)
	t := pipeline.Target{
		ServiceID: serviceID, UserID: svc.Hosting.UserID, Server: vm.Server, Node: vm.Node, VMID: vm.VMID,
		VMName: vm.VMName, VMUUID: vm.VMUUID, Domain: svc.Hosting.Domain, IPs: ips,
		VMStatus: vm.VMStatus, Attempt: vm.TerminateAttempts + 1,
	}
	l := a.newLines(ctx, t, pipeline.PhaseLoad)
	l.add("[terminate] starting (attempt %d, vmid %d on %s/%s)", t.Attempt, t.VMID, t.Server, t.Node)
	return LoadResult{Target: t, Lines: l.list}, nil
}
