package activities

import (
	"context"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// ForceStopVM hard-stops the VM, aborting a pending graceful shutdown
// (overrule-shutdown=1 on PVE >= 8.2; on older clusters by stopping the
// shutdown task first), then polls up to ForceWindow. A VM still running
// afterwards is reported, not failed: DELETE decides, and Proxmox refuses
// to destroy a running VM.
func (a *Activities) ForceStopVM(ctx context.Context, in StopInput) (StopResult, error) {
	ctx, l, end := a.beginPhase(ctx, in.Target, pipeline.PhaseForceStop)
	defer end()
	t, tm := in.Target, in.Timing.WithDefaults()
	prev, resumed := lastProgress(ctx)
	c, st, done, err := a.inspect(ctx, t, l)
	if done != nil || err != nil {
		return *done, err
	}
	if !st.Running() {
		l.add("stopped before the force stop")
		return StopResult{Stopped: true, Lines: l.list}, nil
	}
	res := StopResult{}
	if resumed {
		res.Waited = prev.Waited
		l.add("resuming force-stop wait at %s / %s", secs(res.Waited), secs(tm.ForceWindow))
	} else {
		_, overruled, err := c.Stop(whileQueued(ctx, l), t.Node, t.VMID, in.ShutdownUPID)
		switch {
		case err != nil:
			l.add("force-stop request failed: %v", err)
		case overruled:
			l.add("force-stop request sent (pending shutdown overruled)")
		default:
			l.add("force-stop request sent")
		}
		if err == nil {
			metrics(ctx).Counter("terminate_forced_stops_total").Inc(1)
		}
	}
	return a.awaitStopped(ctx, c, t, l, tm, res, tm.ForceWindow, "force-stop: ",
		"stopped after force stop ~%s", "still running after force stop (%s): going on to DELETE, which Proxmox refuses for a running VM")
}
