package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// StartResult carries the restore's lines.
type StartResult struct {
	Lines []pipeline.Line `json:"lines"`
}

// StartVM is the restore's Proxmox step: the identity check, then POST
// status/start and the task's end. A VM that already runs is not started
// twice (a retry after the task ended); a VM gone from the node, or not the
// one the record describes, fails at once.
func (a *Activities) StartVM(ctx context.Context, in VMInput) (StartResult, error) {
	ctx, l, end := a.beginPhase(ctx, in.Target, "restore")
	defer end()
	t, tm := in.Target, in.Timing.WithDefaults()
	c, err := a.client(t.Server)
	if err != nil {
		return StartResult{}, err
	}
	missing, err := a.checkIdentity(ctx, c, t)
	if err == nil && missing {
		err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("VM %d is gone from node %s: nothing to restore", t.VMID, t.Node), pipeline.ErrNotFound, nil)
	}
	if err != nil {
		l.add("restore: %s", reason(err))
		return StartResult{Lines: l.list}, err
	}
	st, err := c.VMStatus(ctx, t.Node, t.VMID)
	if err != nil {
		l.add("restore: %s", reason(err))
		return StartResult{Lines: l.list}, err
	}
	if st.Running() {
		l.add("restore: VM %d already running", t.VMID)
		return StartResult{Lines: l.list}, nil
	}
	upid, err := c.Start(whileQueued(ctx, l), t.Node, t.VMID)
	if err != nil {
		l.add("restore: start request failed: %s", reason(err))
		return StartResult{Lines: l.list}, err
	}
	l.add("restore: start request sent")
	if _, err := c.WaitTask(ctx, t.Node, upid, tm.TaskPoll, func(pve.TaskStatus) {
		heartbeat(ctx, Progress{UPID: upid, Lines: l.list})
	}); err != nil {
		l.add("restore: start task failed: %s", reason(err))
		return StartResult{Lines: l.list}, err
	}
	l.add("restore: VM %d running again", t.VMID)
	return StartResult{Lines: l.list}, nil
}
