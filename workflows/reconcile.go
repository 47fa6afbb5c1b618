package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
)

// ReconcileWorkflowName is the type name the schedule starts.
const ReconcileWorkflowName = "ReconcileWorkflow"

// ReconcileWorkflow is one pass of the re-queue (a Temporal Schedule runs it
// every minute): rows reset to 'terminate' in the billing panel get a run,
// or their waiting run a reset-status signal.
func ReconcileWorkflow(ctx workflow.Context) (activities.ReconcileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: time.Second},
	})
	var res activities.ReconcileResult
	err := workflow.ExecuteActivity(ctx, a.Reconcile).Get(ctx, &res)
	return res, err
}
