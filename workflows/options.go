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

// shortCtx is for database activities: they must eventually succeed (losing
// an outcome is worse than waiting for the database), so they retry forever
// with capped backoff; only a vanished row (pipeline.ErrRowGone) ends them.
func shortCtx(ctx workflow.Context) workflow.Context {
	return withOptions(ctx, 30*time.Second, 0, &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		NonRetryableErrorTypes: []string{pipeline.ErrRowGone},
	})
}

func loadCtx(ctx workflow.Context) workflow.Context {
	return withOptions(ctx, 30*time.Second, 0, &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
	})
}

func stopCtx(ctx workflow.Context, tm pipeline.Timing, window time.Duration) workflow.Context {
	return withOptions(ctx, window+time.Minute+queueAllowance, heartbeatFor(tm.StopPoll), &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
	})
}

func bestEffortCtx(ctx workflow.Context, window time.Duration) workflow.Context {
	return withOptions(ctx, window, 2*time.Minute, &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 2,
	})
}

func deleteCtx(ctx workflow.Context, tm pipeline.Timing) workflow.Context {
	return withOptions(ctx, tm.DeleteTaskWindow+time.Minute+queueAllowance, heartbeatFor(tm.TaskPoll), &temporal.RetryPolicy{
		InitialInterval: tm.DeleteBackoff, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		MaximumAttempts: int32(tm.DeleteAttempts),
	})
}

// checkCtx is for CheckDeletable: two reads; a failure is not fatal (the
// DELETE decides).
func checkCtx(ctx workflow.Context) workflow.Context {
	return withOptions(ctx, time.Minute, 0, &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
	})
}

// startCtx is for StartVM (a restore): the start task's window, retried a
// few times on Proxmox's transient errors.
func startCtx(ctx workflow.Context, tm pipeline.Timing) workflow.Context {
	return withOptions(ctx, tm.DeleteTaskWindow+time.Minute+queueAllowance, heartbeatFor(tm.TaskPoll), &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
		NonRetryableErrorTypes: []string{pipeline.ErrIdentityMismatch, pipeline.ErrNotFound},
	})
}
