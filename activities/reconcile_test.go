package activities_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/metrics"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// fakeTemporal answers the calls Reconcile makes, per workflow ID.
type fakeTemporal struct {
	client.Client
	mu       sync.Mutex
	running  map[string]string // open runs: workflow ID → phase ("" = stuck: the query never answers)
	broken   map[string]bool   // DescribeWorkflow fails
	noStart  map[string]bool   // ExecuteWorkflow fails
	started  []string
	signaled []string
}

func (f *fakeTemporal) DescribeWorkflow(_ context.Context, id, _ string) (*client.WorkflowExecutionDescription, error) {
	if f.broken[id] {
		return nil, serviceerror.NewUnavailable("frontend hiccup")
	}
	if _, ok := f.running[id]; !ok {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	return &client.WorkflowExecutionDescription{RawResponse: &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}}, nil
}

func (f *fakeTemporal) QueryWorkflow(ctx context.Context, id, _, _ string, _ ...any) (converter.EncodedValue, error) {
	phase := f.running[id]
	if phase == "" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return statusValue{pipeline.Status{Phase: phase}}, nil
}

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	if f.noStart[o.ID] {
		return nil, errors.New("start refused")
	}
	f.mu.Lock()
	f.started = append(f.started, o.ID)
	f.mu.Unlock()
	return nil, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, id, _, name string, _ any) error {
	f.mu.Lock()
	f.signaled = append(f.signaled, id+" "+name)
	f.mu.Unlock()
	return nil
}

type statusValue struct{ st pipeline.Status }

func (v statusValue) HasValue() bool { return true }
func (v statusValue) Get(p any) error {
	*(p.(*pipeline.Status)) = v.st
	return nil
}

// A row whose run Temporal cannot describe, a run that never answers its
// query and a row whose start is refused come before good rows: each fails
// on its own, is reported and counted, and every other row is handled.
func TestReconcileHandlesEveryRowDespiteBrokenOnes(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	ctx := context.Background()
	for id := 701; id <= 706; id++ {
		require.NoError(t, stack.Seed(ctx, store, stack.Service{ID: id, UserID: 1, VMID: id, Node: "pve1", VMName: "r", VMStatus: dbmodel.StatusTerminate}))
	}
	ft := &fakeTemporal{
		broken:  map[string]bool{pipeline.WorkflowID(701): true},
		running: map[string]string{pipeline.WorkflowID(702): "", pipeline.WorkflowID(704): pipeline.PhaseWaiting, pipeline.WorkflowID(705): pipeline.PhaseStop},
		noStart: map[string]bool{pipeline.WorkflowID(703): true},
	}
	acts := &activities.Activities{Store: store, Requeue: &activities.Requeuer{Temporal: ft, TaskQueue: "q", RowTimeout: 300 * time.Millisecond}}
	reg := prometheus.NewRegistry()
	var suite testsuite.WorkflowTestSuite
	suite.SetMetricsHandler(metrics.New(reg))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	beats := 0
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats++ })

	v, err := env.ExecuteActivity(acts.Reconcile)
	require.NoError(t, err)
	var res activities.ReconcileResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []int{706}, res.Started)
	require.Equal(t, []int{704}, res.Requeued)
	require.Equal(t, []int{705}, res.Running)
	failed := map[int]string{}
	for _, f := range res.Failed {
		failed[f.ServiceID] = f.Error
	}
	require.Len(t, failed, 3, "%v", res.Failed)
	require.Contains(t, failed[701], "frontend hiccup")
	require.Contains(t, failed[702], "query "+pipeline.WorkflowID(702))
	require.Contains(t, failed[703], "start refused")
	require.Equal(t, []string{pipeline.WorkflowID(706)}, ft.started)
	require.Equal(t, []string{pipeline.WorkflowID(704) + " " + pipeline.SignalReset}, ft.signaled)
	require.Equal(t, 3.0, counterSum(t, reg, "terminate_reconcile_failures_total"))
	require.Positive(t, beats, "the pass heartbeats as it goes")
}

// counterSum sums a counter family across its label values.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// Many runs that never answer come first: they are handled a few at a
// time, so the pass still reaches the good row behind them before its own
// deadline; rows it has no time left for are deferred, untouched.
func TestReconcileStuckRunsDoNotUseUpThePass(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	ctx := context.Background()
	ft := &fakeTemporal{running: map[string]string{}}
	for id := 801; id <= 817; id++ {
		require.NoError(t, stack.Seed(ctx, store, stack.Service{ID: id, UserID: 1, VMID: id, Node: "pve1", VMName: "s", VMStatus: dbmodel.StatusTerminate}))
		if id < 817 {
			ft.running[pipeline.WorkflowID(id)] = "" // stuck
		}
	}
	acts := &activities.Activities{Store: store, Requeue: &activities.Requeuer{Temporal: ft, TaskQueue: "q", RowTimeout: 500 * time.Millisecond}}
	pass, cancel := context.WithTimeout(ctx, 3*time.Second) // one row at a time would need 16 × 0.5 s
	defer cancel()
	res, err := acts.Reconcile(pass)
	require.NoError(t, err)
	require.Equal(t, []int{817}, res.Started)
	require.Len(t, res.Failed, 16)
	require.Empty(t, res.Deferred)

	// A pass with less time left than one row needs touches nothing.
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	res, err = acts.Reconcile(short)
	require.NoError(t, err)
	require.Len(t, res.Deferred, 17)
	require.Empty(t, res.Failed)
	require.Equal(t, []string{pipeline.WorkflowID(817)}, ft.started, "nothing started by the short pass")
}
