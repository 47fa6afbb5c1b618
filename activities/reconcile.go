package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// Requeuer holds what Reconcile needs to start and signal runs.
type Requeuer struct {
	Temporal  client.Client
	TaskQueue string
	Timing    pipeline.Timing
	// RowTimeout bounds the Temporal calls for one row (a run whose worker
	// is stuck never answers its query); default DefaultRowTimeout.
	RowTimeout time.Duration
}

// DefaultRowTimeout is Requeuer.RowTimeout's default.
const DefaultRowTimeout = 10 * time.Second

// ReconcileResult lists what one pass did.
type ReconcileResult struct {
	Started  []int `json:"started"`  // rows in 'terminate' with no open run: a run was started
	Requeued []int `json:"requeued"` // runs waiting in error_terminate whose row was reset to 'terminate': signalled
	Running  []int `json:"running"`  // rows whose run is already working: left alone
	// Failed are the rows this pass could not handle (the next pass tries
	// again); every other row was handled all the same.
	Failed []ReconcileFailure `json:"failed,omitempty"`
	// Deferred are rows the pass had no time left for (the next pass takes them).
	Deferred []int `json:"deferred,omitempty"`
}

// ReconcileFailure is one row a pass could not handle, and why.
type ReconcileFailure struct {
	ServiceID int    `json:"service_id"`
	Error     string `json:"error"`
}

// ReconcileLimit bounds one pass.
const ReconcileLimit = 500

// ReconcileParallel is how many rows a pass handles at once.
const ReconcileParallel = 8

type rowOutcome int

const (
	rowSkipped rowOutcome = iota // no longer in 'terminate'
	rowStarted
	rowRequeued
	rowRunning
)

// Reconcile is the billing panel's re-queue: the vendor's admin UI resets a
// row to vm_status='terminate' in the database. Every row in 'terminate'
// gets exactly one run: a new one when none is open (starting with
// conflict policy USE_EXISTING, so a concurrent click or pass attaches
// instead of starting a second), or a reset-status signal when its run
// waits in error_terminate. Rows in error_terminate are never touched, so a
// skipped row writes no activity-log entry. Each row is handled on its own,
// within RowTimeout, ReconcileParallel at a time: a row that fails (an
// unreadable row, a run that does not answer) is logged, counted in
// terminate_reconcile_failures_total and listed in Failed, and the pass
// goes on with the others; rows it has no time left for are Deferred.
func (a *Activities) Reconcile(ctx context.Context) (ReconcileResult, error) {
	res := ReconcileResult{Started: []int{}, Requeued: []int{}, Running: []int{}}
	rq := a.Requeue
	if rq == nil || rq.Temporal == nil {
		return res, temporal.NewNonRetryableApplicationError("reconcile: no Temporal client configured on this worker", pipeline.ErrConfig, nil)
	}
	ids, err := a.Store.ServicesWithStatus(ctx, dbmodel.StatusTerminate, ReconcileLimit)
	if err != nil {
		return res, err
	}
	timeout := rq.RowTimeout
	if timeout <= 0 {
		timeout = DefaultRowTimeout
	}
	// A few rows at a time, so that stuck runs cannot eat the pass's time
	// one after the other; no row starts when the pass could not finish it
	// (the next pass takes it).
	var mu sync.Mutex
	sem := make(chan struct{}, ReconcileParallel)
	var wg sync.WaitGroup
	done := 0
	for _, id := range ids {
		if dl, ok := ctx.Deadline(); ctx.Err() != nil || ok && time.Until(dl) < timeout {
			mu.Lock()
			res.Deferred = append(res.Deferred, id)
			mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(id int) {
			defer func() { <-sem; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			out, err := a.reconcileRow(rctx, rq, id)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				msg := a.Secrets.Redact(err.Error())
				res.Failed = append(res.Failed, ReconcileFailure{ServiceID: id, Error: msg})
				metrics(ctx).Counter("terminate_reconcile_failures_total").Inc(1)
				if activity.IsActivity(ctx) {
					activity.GetLogger(ctx).Warn("reconcile: row failed", "service_id", id, "error", msg)
				}
			case out == rowStarted:
				res.Started = append(res.Started, id)
			case out == rowRequeued:
				res.Requeued = append(res.Requeued, id)
			case out == rowRunning:
				res.Running = append(res.Running, id)
			}
			done++
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, done)
			}
		}(id)
	}
	wg.Wait()
	slices.Sort(res.Started)
	slices.Sort(res.Requeued)
	slices.Sort(res.Running)
	slices.SortFunc(res.Failed, func(x, y ReconcileFailure) int { return x.ServiceID - y.ServiceID })
	if len(res.Deferred) > 0 && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn("reconcile: pass out of time, rows left for the next pass", "rows", len(res.Deferred))
	}
	return res, nil
}

// reconcileRow handles one row in 'terminate'.
func (a *Activities) reconcileRow(ctx context.Context, rq *Requeuer, id int) (rowOutcome, error) {
	wid := pipeline.WorkflowID(id)
	d, err := rq.Temporal.DescribeWorkflow(ctx, wid, "")
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return rowSkipped, fmt.Errorf("describe %s: %w", wid, err)
	}
	open := err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	// The row was read before Temporal answered: a run may have finished
	// (row now 'remove') or failed (row now 'error_terminate') in
	// between. The workflow writes the row before it completes or
	// waits, so a fresh read after Temporal's answer is the truth.
	if still, err := a.stillQueued(ctx, id); err != nil || !still {
		return rowSkipped, err
	}
	if !open {
		if err := a.startRun(ctx, rq, id); err != nil {
			return rowSkipped, err
		}
		return rowStarted, nil
	}
	v, err := rq.Temporal.QueryWorkflow(ctx, wid, "", pipeline.QueryStatus)
	if err != nil {
		return rowSkipped, fmt.Errorf("query %s: %w", wid, err)
	}
	var st pipeline.Status
	if err := v.Get(&st); err != nil {
		return rowSkipped, fmt.Errorf("query %s: %w", wid, err)
	}
	if st.Phase != pipeline.PhaseWaiting {
		return rowRunning, nil
	}
	if still, err := a.stillQueued(ctx, id); err != nil || !still {
		return rowSkipped, err
	}
	if err := rq.Temporal.SignalWorkflow(ctx, wid, "", pipeline.SignalReset, dbmodel.StatusTerminate); err != nil {
		return rowSkipped, fmt.Errorf("signal %s: %w", wid, err)
	}
	return rowRequeued, nil
}

// stillQueued re-reads the row: is it still in 'terminate'?
func (a *Activities) stillQueued(ctx context.Context, id int) (bool, error) {
	svc, err := a.Store.LoadService(ctx, id)
	if errors.Is(err, dbmodel.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return svc.VM.VMStatus == dbmodel.StatusTerminate, nil
}

func (a *Activities) startRun(ctx context.Context, rq *Requeuer, id int) error {
	_, err := rq.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: pipeline.WorkflowID(id), TaskQueue: rq.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(pipeline.SAServiceID.ValueSet(int64(id)),
			pipeline.SAVmStatus.ValueSet(dbmodel.StatusTerminate)),
	}, pipeline.WorkflowName, pipeline.Input{ServiceID: id, Timing: rq.Timing})
	if err != nil {
		return fmt.Errorf("start %s: %w", pipeline.WorkflowID(id), err)
	}
	return nil
}
