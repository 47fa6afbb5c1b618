package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// VMInput is the input of DeleteVM and StartVM: the VM and the timing.
type VMInput struct {
	Target pipeline.Target `json:"target"`
	Timing pipeline.Timing `json:"timing"`
}

// DeleteResult is a successful DELETE.
type DeleteResult struct {
	UPID         string          `json:"upid,omitempty"`
	AlreadyGone  bool            `json:"already_gone"`
	ExitStatus   string          `json:"exit_status,omitempty"`
	Lines        []pipeline.Line `json:"lines"`
	AttemptsUsed int             `json:"attempts_used"`
}

// DeleteVM sends DELETE /nodes/{node}/qemu/{vmid}?purge=1, waits for the
// destroy task, checks its exit status and confirms that no node lists the
// vmid any more. Transient failures (lock timeouts, unreachable node,
// connection errors) return retryable errors, so Temporal retries them; all
// others are non-retryable, with Proxmox's reason as the message. A retry
// that finds the destroy task of an earlier try waits for that task instead
// of sending a second DELETE; one that finds the VM gone cluster-wide succeeds.
func (a *Activities) DeleteVM(ctx context.Context, in VMInput) (DeleteResult, error) {
	ctx, l, end := a.beginPhase(ctx, in.Target, pipeline.PhaseDelete)
	defer end()
	t, tm := in.Target, in.Timing.WithDefaults()
	c, err := a.client(t.Server)
	if err != nil {
		return DeleteResult{}, temporal.NewNonRetryableApplicationError(err.Error(), pipeline.ErrConfig, nil)
	}
	prev, resumed := lastProgress(ctx)
	res := DeleteResult{}
	fail := func(err error) (DeleteResult, error) {
		res.Lines = l.list
		class := pve.ClassOf(err)
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			class = app.Type()
		}
		metrics(ctx).WithTags(map[string]string{"reason_class": class}).Counter("terminate_delete_failures_total").Inc(1)
		return res, a.classify(err)
	}

	// One of the node's slots for the DELETE and its destroy task: a fleet
	// run cannot flood a node with destroys.
	release, err := c.AcquireNode(ctx, t.Node, func() { heartbeat(ctx, prev) })
	if err != nil {
		return fail(err)
	}
	defer release()

	upid := prev.UPID
	if upid == "" {
		// A crash can come between Proxmox starting the destroy task and our
		// heartbeat recording its UPID, and the workflow reruns a DELETE lost
		// with its worker as a fresh activity (attempt 1, no heartbeat): look
		// for a running destroy task of this VM before every DELETE.
		if active, err := c.ActiveTasks(ctx, t.Node, t.VMID, "qmdestroy"); err == nil && len(active) > 0 {
			upid, resumed = active[0], true
		}
	}
	if !resumed || upid == "" {
		missing, err := a.checkIdentity(ctx, c, t)
		if missing {
			return a.confirmGone(ctx, c, t, l, res, errMissing)
		}
		if err != nil {
			l.add("%s", reason(err))
			return fail(err)
		}
		l.add("DELETE VM vmid=%d node=%s purge=1", t.VMID, t.Node)
		upid, err = c.DeleteVM(ctx, t.Node, t.VMID)
		if pve.IsMissingVM(err) {
			return a.confirmGone(ctx, c, t, l, res, err)
		}
		if err != nil {
			l.add("DELETE failed: %v", err)
			return fail(err)
		}
		heartbeat(ctx, Progress{UPID: upid, Lines: l.list})
	} else {
		l.add("waiting for the destroy task of an earlier try: %s", upid)
	}
	res.UPID = upid

	// A destroy task never ends at once (it takes the config lock and
	// removes disks): the first status read waits one poll interval.
	if err := sleep(ctx, tm.TaskPoll); err != nil {
		return fail(err)
	}
	wctx, cancel := context.WithTimeout(ctx, tm.DeleteTaskWindow)
	st, err := c.WaitTask(wctx, t.Node, upid, tm.TaskPoll, func(pve.TaskStatus) {
		heartbeat(ctx, Progress{UPID: upid, Lines: l.list})
	})
	cancel()
	if err != nil {
		var te *pve.TaskError
		if errors.As(err, &te) {
			l.add("destroy task failed: %s", te.ExitStatus)
			heartbeat(ctx, Progress{Lines: l.list}) // a retry sends a new DELETE
		} else {
			l.add("destroy task status unknown: %v", err)
		}
		return fail(err)
	}
	res.ExitStatus = st.ExitStatus
	return a.confirmGone(ctx, c, t, l, res, nil)
}

var errMissing = errors.New("no such VM on the node")

// confirmGone checks /cluster/resources. A VM that no node lists is deleted.
func (a *Activities) confirmGone(ctx context.Context, c *pve.Client, t pipeline.Target, l *lines, res DeleteResult, deleteErr error) (DeleteResult, error) {
	vm, found, err := c.FindVM(ctx, t.VMID)
	if err != nil {
		l.add("cannot confirm deletion: %v", err)
		res.Lines = l.list
		return res, a.classify(err)
	}
	if found {
		res.Lines = l.list
		if deleteErr != nil {
			// The node says the config is missing, but the cluster still
			// lists the vmid: it moved (or the id was reused). Never guess.
			msg := fmt.Sprintf("vmid %d is not on node %s but the cluster lists it on node %s (name %q): not deleting", t.VMID, t.Node, vm.Node, vm.Name)
			l.add("%s", msg)
			res.Lines = l.list
			return res, temporal.NewNonRetryableApplicationError(msg, pipeline.ErrMoved, nil)
		}
		if t.VMName != "" && !SameVMName(vm.Name, t.VMName) {
			// Our destroy task ended OK and the vmid now belongs to another
			// VM (Proxmox hands freed ids out again): ours is gone.
			l.add("vmid %d already belongs to another VM (%q on node %s): ours is gone", t.VMID, vm.Name, vm.Node)
			l.add("VM deleted")
			res.Lines = l.list
			return res, nil
		}
		msg := fmt.Sprintf("destroy task ended but the cluster still lists vmid %d on node %s", t.VMID, vm.Node)
		l.add("%s", msg)
		res.Lines = l.list
		return res, temporal.NewApplicationError(msg, pipeline.ErrStillListed)
	}
	if deleteErr != nil {
		res.AlreadyGone = true
		l.add("VM already gone from the cluster")
	}
	l.add("VM deleted")
	res.Lines = l.list
	return res, nil
}

// classify turns a Proxmox error into a Temporal error: retryable when
// transient, non-retryable otherwise. Messages carry Proxmox's reason and
// never a secret.
func (a *Activities) classify(err error) error {
	if err == nil {
		return nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return err
	}
	msg := a.Secrets.Redact(reason(err))
	// A VM locked by a backup or migration frees itself: retry within the
	// DELETE retry policy's bounds, then fail with the lock's name.
	if pve.IsTransient(err) || pve.ClassOf(err) == pve.ClassLocked || errors.Is(err, context.DeadlineExceeded) {
		return temporal.NewApplicationError(msg, pve.ClassOf(err))
	}
	return temporal.NewNonRetryableApplicationError(msg, pve.ClassOf(err), nil)
}

// reason is Proxmox's own text for an error: the message of an HTTP error
// or the exit status of a failed task.
func reason(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var e *pve.Error
	if errors.As(err, &e) {
		if e.Status == 0 {
			return "connection failed: " + e.Cause
		}
		if e.Message != "" {
			if len(e.Params) > 0 {
				return e.Error()
			}
			return e.Message
		}
		return e.Error()
	}
	var te *pve.TaskError
	if errors.As(err, &te) {
		return te.ExitStatus
	}
	return err.Error()
}
