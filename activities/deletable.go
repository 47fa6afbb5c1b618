package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// DeleteRefusal predicts qemu-server's destroy_vm early checks for the
// DELETE we send (purge=1, no skiplock), in Proxmox's order and wording:
// protection mode, then a VM that still runs (a paused guest still has its
// process, so it counts as running). The HA and replication checks apply
// only without purge, and a config lock is retried within the DELETE's
// bounds, so neither is a certain refusal. It returns "" when Proxmox would
// accept the DELETE, else its message and the pve failure class.
func DeleteRefusal(vmid int, cfg pve.VMConfig, running bool) (reason, class string) {
	if cfg.Protection {
		return fmt.Sprintf("can't remove VM %d - protection mode enabled", vmid), pve.ClassProtected
	}
	if running {
		return fmt.Sprintf("VM %d is running - destroy failed", vmid), pve.ClassRunning
	}
	return "", ""
}

// A node that pveproxy reports unreachable (595/596/599) is asked
// unreachableTries times, unreachablePause apart, before the check gives
// up on it.
const (
	unreachableTries = 3
	unreachablePause = 2 * time.Second
)

// DeletableResult is CheckDeletable's answer.
type DeletableResult struct {
	// Refusal is Proxmox's own reason a DELETE would fail now, or the
	// node's unreachability (pveproxy's 595/596/599, after unreachableTries
	// reads); "" when nothing certain stands in the way (including a VM
	// already gone, or another error reading it: the DELETE phase then
	// decides).
	Refusal string          `json:"refusal,omitempty"`
	Class   string          `json:"class,omitempty"` // pve.ClassProtected, pve.ClassRunning or pve.ClassNodeUnreachable
	Lines   []pipeline.Line `json:"lines"`
}

// CheckDeletable reads the VM's config and status after the stop phases
// and tells whether Proxmox will refuse the DELETE. The workflow asks before
// the destructive best-effort phases, so a VM that cannot be deleted keeps
// its backups and DNS records. A VM at (node, vmid) that is not ours fails
// with ErrIdentityMismatch. It changes nothing on Proxmox.
func (a *Activities) CheckDeletable(ctx context.Context, t pipeline.Target) (DeletableResult, error) {
	ctx, l, end := a.beginPhase(ctx, t, pipeline.PhaseCheckDelete)
	defer end()
	c, err := a.client(t.Server)
	if err != nil {
		return DeletableResult{}, temporal.NewNonRetryableApplicationError(err.Error(), pipeline.ErrConfig, nil)
	}
	res := DeletableResult{}
	cfg, err := c.VMConfig(ctx, t.Node, t.VMID)
	for try := 1; pve.ClassOf(err) == pve.ClassNodeUnreachable && try < unreachableTries; try++ {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(unreachablePause):
		}
		cfg, err = c.VMConfig(ctx, t.Node, t.VMID)
	}
	if pve.IsMissingVM(err) {
		res.Lines = l.list
		return res, nil
	}
	if pve.ClassOf(err) == pve.ClassNodeUnreachable {
		// pveproxy cannot reach the node: the DELETE cannot reach it
		// either. Nothing is destroyed while the VM may live on.
		res.Refusal = fmt.Sprintf("node %s does not answer: %s", t.Node, a.Secrets.Redact(reason(err)))
		res.Class = pve.ClassNodeUnreachable
		l.add("the DELETE cannot be sent: %s; backups and DNS records are kept", res.Refusal)
		metrics(ctx).WithTags(map[string]string{"reason_class": res.Class}).Counter("terminate_delete_failures_total").Inc(1)
		res.Lines = l.list
		return res, nil
	}
	if err != nil {
		l.add("cannot check whether Proxmox accepts the DELETE: %s", a.Secrets.Redact(reason(err)))
		res.Lines = l.list
		return res, nil
	}
	if msg := IdentityMismatch(t, cfg); msg != "" {
		// The vmid was handed to another VM since the stop phases: its
		// protection or state says nothing about ours.
		l.add("%s", msg)
		res.Lines = l.list
		return res, temporal.NewNonRetryableApplicationError(msg, pipeline.ErrIdentityMismatch, nil)
	}
	st, err := c.VMStatus(ctx, t.Node, t.VMID)
	if err != nil && !pve.IsMissingVM(err) {
		l.add("cannot check whether Proxmox accepts the DELETE: %s", a.Secrets.Redact(reason(err)))
	}
	res.Refusal, res.Class = DeleteRefusal(t.VMID, cfg, err == nil && st.Status != "stopped")
	if res.Refusal != "" {
		l.add("Proxmox will refuse the DELETE: %s; backups and DNS records are kept", res.Refusal)
		metrics(ctx).WithTags(map[string]string{"reason_class": res.Class}).Counter("terminate_delete_failures_total").Inc(1)
	}
	res.Lines = l.list
	return res, nil
}
