package activities

import (
	"context"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// StopInput is the input of StopVM and ForceStopVM.
type StopInput struct {
	Target       pipeline.Target `json:"target"`
	Timing       pipeline.Timing `json:"timing"`
	ShutdownUPID string          `json:"shutdown_upid,omitempty"` // ForceStopVM: the graceful shutdown to abort on old clusters
}

// StopResult says whether the VM is off.
type StopResult struct {
	Stopped      bool            `json:"stopped"`
	Missing      bool            `json:"missing"` // no such VM on the node (DELETE decides what that means)
	Paused       bool            `json:"paused"`  // a paused guest cannot shut down gracefully
	Waited       time.Duration   `json:"waited"`
	ShutdownUPID string          `json:"shutdown_upid,omitempty"`
	Lines        []pipeline.Line `json:"lines"`
}

// StopVM sends one graceful shutdown and polls the VM's status every
// StopPoll for up to StopWindow, printing progress every ProgressEvery. A
// lock timeout on the shutdown means the starter's shutdown is still running
// and is not a failure. On retry it resumes the window from its heartbeat.
func (a *Activities) StopVM(ctx context.Context, in StopInput) (StopResult, error) {
	ctx, l, end := a.beginPhase(ctx, in.Target, pipeline.PhaseStop)
	defer end()
	t, tm := in.Target, in.Timing.WithDefaults()
	prev, resumed := lastProgress(ctx)
	c, st, done, err := a.inspect(ctx, t, l)
	if done != nil || err != nil {
		return *done, err
	}
	if !resumed {
		l.add("remote status: %s, vmid: %d", describe(st), t.VMID)
	}
	if !st.Running() {
		l.add("already stopped")
		return StopResult{Stopped: true, Lines: l.list}, nil
	}
	if st.QMPStatus == "paused" {
		l.add("VM is paused: a graceful shutdown is impossible, forcing stop")
		return StopResult{Paused: true, Lines: l.list}, nil
	}

	res := StopResult{}
	if resumed {
		res.Waited, res.ShutdownUPID = prev.Waited, prev.UPID
		l.add("resuming stop wait at %s / %s", secs(res.Waited), secs(tm.StopWindow))
	} else {
		upid, err := c.Shutdown(whileQueued(ctx, l), t.Node, t.VMID, int(tm.StopWindow/time.Second))
		switch {
		case err == nil:
			res.ShutdownUPID = upid
			l.add("stop request sent")
		case pve.IsLockTimeout(err):
			l.add("stop request sent (a shutdown is already in progress)")
		default:
			l.add("stop request failed: %v", err)
		}
	}
	return a.awaitStopped(ctx, c, t, l, tm, res, tm.StopWindow, "",
		"stopped after ~%s", "still running after %s: forcing stop")
}

// awaitStopped is how both stop phases end: it polls (pollStopped) from
// res.Waited up to window, then completes res with the wait, whether the VM
// stopped and a last line, stoppedFmt with the wait or runningFmt with the
// window.
func (a *Activities) awaitStopped(ctx context.Context, c *pve.Client, t pipeline.Target, l *lines, tm pipeline.Timing,
	res StopResult, window time.Duration, label, stoppedFmt, runningFmt string) (StopResult, error) {
	stopped, waited, err := a.pollStopped(ctx, c, t, l, res.Waited, window, tm.StopPoll, tm.ProgressEvery, res.ShutdownUPID, label)
	res.Waited = waited
	res.Lines = l.list
	if err != nil {
		return res, err
	}
	res.Stopped = stopped
	if stopped {
		l.add(stoppedFmt, secs(waited))
	} else {
		l.add(runningFmt, secs(window))
	}
	res.Lines = l.list
	return res, nil
}

// inspect is how both stop phases begin: the VM's identity, then its
// status. done is set when the phase has nothing to do (the VM is gone from
// the node) or must end (identity mismatch, an error).
func (a *Activities) inspect(ctx context.Context, t pipeline.Target, l *lines) (*pve.Client, pve.VMStatus, *StopResult, error) {
	var st pve.VMStatus
	c, err := a.client(t.Server)
	if err != nil {
		return nil, st, &StopResult{}, err
	}
	missing, err := a.checkIdentity(ctx, c, t)
	if err == nil && !missing {
		st, err = c.VMStatus(ctx, t.Node, t.VMID)
		missing = pve.IsMissingVM(err)
	}
	switch {
	case missing:
		l.add("remote status: missing, vmid: %d (no such VM on node %s)", t.VMID, t.Node)
		return c, st, &StopResult{Stopped: true, Missing: true, Lines: l.list}, nil
	case err != nil:
		l.add("%s", reason(err))
		return c, st, &StopResult{Lines: l.list}, err
	}
	return c, st, nil, nil
}

// pollStopped polls until the VM is off or window has passed since waited=0.
func (a *Activities) pollStopped(ctx context.Context, c *pve.Client, t pipeline.Target, l *lines,
	waited, window, poll, progressEvery time.Duration, upid, label string) (bool, time.Duration, error) {
	printed := waited / progressEvery
	var lastErr error
	for waited < window {
		step := poll
		if waited+step > window {
			step = window - waited
		}
		if err := sleep(ctx, step); err != nil {
			return false, waited, err
		}
		waited += step
		st, err := c.VMStatus(ctx, t.Node, t.VMID)
		switch {
		case pve.IsMissingVM(err):
			return true, waited, nil
		case err != nil:
			lastErr = err
			if n := waited / progressEvery; n > printed {
				printed = n
				l.add("%sstatus unknown, waited %s / %s: %v", label, secs(waited), secs(window), err)
			}
		case !st.Running():
			heartbeat(ctx, Progress{Waited: waited, UPID: upid, Lines: l.list})
			return true, waited, nil
		default:
			lastErr = nil
			if n := waited / progressEvery; n > printed {
				printed = n
				l.add("%sstill running, waited %s / %s, status: %s", label, secs(waited), secs(window), describe(st))
			}
		}
		heartbeat(ctx, Progress{Waited: waited, UPID: upid, Lines: l.list})
	}
	if lastErr != nil && !pve.IsTransient(lastErr) {
		return false, waited, lastErr
	}
	return false, waited, nil
}

func describe(st pve.VMStatus) string {
	if st.QMPStatus != "" && st.QMPStatus != st.Status {
		return st.Status + " (" + st.QMPStatus + ")"
	}
	return st.Status
}
