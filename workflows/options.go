package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// Activity options per phase, derived from the run's timing. Windows bound
// each phase; heartbeats detect a dead worker long before a window ends.

func withOptions(ctx workflow.Context, startToClose, heartbeat time.Duration, rp *temporal.RetryPolicy) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: startToClose,
		HeartbeatTimeout:    heartbeat,
		RetryPolicy:         rp,
	})
}

// queueAllowance is added to the start-to-close timeout of the phases that
// wait for a per-node slot (pve's node budgets). The activity heartbeats
// while it waits and counts its own window only from the moment the request
// is sent, so time in the queue never uses up the window; the heartbeat
// timeout, not this allowance, catches a dead worker. (Timeouts are not part
// of what replay compares, so runs of every version take it.)
const queueAllowance = 6 * time.Hour

func heartbeatFor(poll time.Duration) time.Duration {
	return max(3*poll, 30*time.Second)
}

// shortOptions is for database activities: they must eventually succeed
// (losing an outcome is worse than waiting for the database), so they retry
// forever with capped backoff; only a vanished row (pipeline.ErrRowGone)
// ends them.
func shortOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		NonRetryableErrorTypes: []string{pipeline.ErrRowGone},
	}}
}

func shortCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, shortOptions())
}

// loadOptions is for LoadTarget, which names its own permanent errors.
func loadOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	}}
}

func stopCtx(ctx workflow.Context, tm pipeline.Timing, window time.Duration) workflow.Context {
	return withOptions(ctx, window+time.Minute+queueAllowance, heartbeatFor(tm.StopPoll), &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
	})
}

// bestEffortOptions is for the best-effort phases: a window, a retry, and
// a heartbeat timeout (which only a regular activity has).
func bestEffortOptions(window time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: window, HeartbeatTimeout: 2 * time.Minute, RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 2,
	}}
}

func bestEffortCtx(ctx workflow.Context, window time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, bestEffortOptions(window))
}

func deleteCtx(ctx workflow.Context, tm pipeline.Timing) workflow.Context {
	return withOptions(ctx, tm.DeleteTaskWindow+time.Minute+queueAllowance, heartbeatFor(tm.TaskPoll), &temporal.RetryPolicy{
		InitialInterval: tm.DeleteBackoff, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		MaximumAttempts: int32(tm.DeleteAttempts),
	})
}

// checkOptions is for CheckDeletable: two reads; a failure is not fatal
// (the DELETE decides).
func checkOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
	}}
}

// startCtx is for StartVM (a restore): the start task's window, retried a
// few times on Proxmox's transient errors.
func startCtx(ctx workflow.Context, tm pipeline.Timing) workflow.Context {
	return withOptions(ctx, tm.DeleteTaskWindow+time.Minute+queueAllowance, heartbeatFor(tm.TaskPoll), &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
		NonRetryableErrorTypes: []string{pipeline.ErrIdentityMismatch, pipeline.ErrNotFound},
	})
}

// step runs one of the short steps (the database steps, the deletability
// check, the DNS cleanup) with options o: from versionLean on as a local
// activity, which the worker runs inside the workflow task that asks for
// it and records as one marker event instead of scheduled, started,
// completed and the workflow task that follows. A local activity runs
// again when its workflow task is lost before it completes (a worker dies),
// so each of these steps is idempotent, as the regular activities already
// are. Heartbeats do not apply to it.
func (r *run) step(ctx workflow.Context, o workflow.ActivityOptions, fn any, args ...any) workflow.Future {
	if r.version >= versionLean {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: o.StartToCloseTimeout, RetryPolicy: o.RetryPolicy,
		}), fn, args...)
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), fn, args...)
}
