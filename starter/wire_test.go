package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// fakeFrontend is a WorkflowService that records the describe and start
// requests it gets (and their namespace header) and answers with what the
// test set.
type fakeFrontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu          sync.Mutex
	starts      []*workflowservice.StartWorkflowExecutionRequest
	describes   []*workflowservice.DescribeWorkflowExecutionRequest
	namespaces  []string
	startErrs   []error // answered to the next starts, in order, then success
	describe    *workflowservice.DescribeWorkflowExecutionResponse
	describeErr error
}

func (f *fakeFrontend) header(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.namespaces = append(f.namespaces, md.Get("temporal-namespace")...)
}

func (f *fakeFrontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{}}, nil
}

func (f *fakeFrontend) StartWorkflowExecution(ctx context.Context, r *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.header(ctx)
	f.starts = append(f.starts, r)
	if len(f.startErrs) > 0 {
		err := f.startErrs[0]
		f.startErrs = f.startErrs[1:]
		return nil, serviceerror.ToStatus(err).Err()
	}
	return &workflowservice.StartWorkflowExecutionResponse{RunId: "run-1", Started: true}, nil
}

func (f *fakeFrontend) DescribeWorkflowExecution(ctx context.Context, r *workflowservice.DescribeWorkflowExecutionRequest) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.header(ctx)
	f.describes = append(f.describes, r)
	if f.describeErr != nil {
		return nil, serviceerror.ToStatus(f.describeErr).Err()
	}
	return f.describe, nil
}

// startFake serves f on a loopback port and returns its address.
func startFake(t *testing.T, f *fakeFrontend) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	workflowservice.RegisterWorkflowServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func sdkClient(t *testing.T, addr string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "ns-wire", Logger: quietLogger{}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func textOf(m proto.Message) string { return prototext.MarshalOptions{Multiline: true}.Format(m) }

// The click's start is, field for field, the request the SDK's
// ExecuteWorkflow sends for the options the starter used to give it.
func TestWireStartIsTheSDKsStart(t *testing.T) {
	f := &fakeFrontend{}
	addr := startFake(t, f)
	in := pipeline.Input{ServiceID: 4711, Timing: stack.FastTiming(), RestoreTo: "ready"}
	_, err := sdkClient(t, addr).ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:                                       pipeline.WorkflowID(4711),
		TaskQueue:                                "tq-wire",
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			pipeline.SAServiceID.ValueSet(4711), pipeline.SAVmID.ValueSet(2003),
			pipeline.SANode.ValueSet("pve2"), pipeline.SAVmStatus.ValueSet(dbmodel.StatusTerminate)),
	}, pipeline.WorkflowName, in)
	require.NoError(t, err)

	w := newWireClient(addr, "ns-wire")
	t.Cleanup(w.close)
	started, err := w.start(context.Background(), startRequest{serviceID: 4711, vmid: 2003, node: "pve2", taskQueue: "tq-wire", input: in})
	require.NoError(t, err)
	require.True(t, started)

	require.Len(t, f.starts, 2)
	sdk, wire := f.starts[0], f.starts[1]
	require.NotEmpty(t, wire.RequestId)
	require.NotEqual(t, sdk.RequestId, wire.RequestId)
	wire.RequestId = sdk.RequestId
	require.True(t, proto.Equal(sdk, wire), "the SDK sent:\n%s\nthe click sent:\n%s", textOf(sdk), textOf(wire))
	require.Equal(t, []string{"ns-wire", "ns-wire"}, f.namespaces)
}

// A run already open is not an error (the click attaches); a transient
// failure is retried with the same request id; anything else is one error.
func TestWireStartAnswers(t *testing.T) {
	req := startRequest{serviceID: 1, vmid: 100, node: "pve1", taskQueue: "tq"}
	for _, tc := range []struct {
		name    string
		errs    []error
		started bool
		err     string
		starts  int
	}{
		{"already started", []error{serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "other-request", "run-0")}, false, "", 1},
		{"unavailable, then started", []error{serviceerror.NewUnavailable("shard moved"), serviceerror.NewUnavailable("shard moved")}, true, "", 3},
		{"refused", []error{serviceerror.NewInvalidArgument("no such task queue, say")}, false, "start workflow: no such task queue, say", 1},
		{"another AlreadyExists", []error{serviceerror.NewAlreadyExists("something else exists")}, false, "start workflow: something else exists", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFrontend{startErrs: tc.errs}
			w := newWireClient(startFake(t, f), "default")
			t.Cleanup(w.close)
			started, err := w.start(context.Background(), req)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.started, started)
			require.Len(t, f.starts, tc.starts)
			for _, r := range f.starts {
				require.Equal(t, f.starts[0].RequestId, r.RequestId)
			}
		})
	}
}

// A transient failure that lasts is retried until the deadline, then
// reported.
func TestWireStartGivesUpAtTheDeadline(t *testing.T) {
	f := &fakeFrontend{}
	for range 100 {
		f.startErrs = append(f.startErrs, serviceerror.NewUnavailable("down for maintenance"))
	}
	w := newWireClient(startFake(t, f), "default")
	t.Cleanup(w.close)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	started, err := w.start(ctx, startRequest{serviceID: 1, vmid: 100, node: "pve1", taskQueue: "tq"})
	require.False(t, started)
	require.Error(t, err)
	require.Contains(t, err.Error(), "start workflow: ")
	require.Greater(t, len(f.starts), 1)
}

// The click reads from a describe what the SDK's DescribeWorkflow gives:
// the run's status, TerminatePhase and GraceUntil as the SDK writes them.
func TestWireDescribeReadsWhatTheSDKReads(t *testing.T) {
	until := time.Date(2026, 11, 26, 1, 33, 0, 123456789, time.UTC)
	payload := func(v any, typ string) *commonpb.Payload {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		require.NoError(t, err)
		p.Metadata["type"] = []byte(typ)
		return p
	}
	info := func(st enumspb.WorkflowExecutionStatus, sa map[string]*commonpb.Payload) *workflowservice.DescribeWorkflowExecutionResponse {
		return &workflowservice.DescribeWorkflowExecutionResponse{
			ExecutionConfig: &workflowpb.WorkflowExecutionConfig{},
			WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
				Execution:        &commonpb.WorkflowExecution{WorkflowId: pipeline.WorkflowID(7), RunId: "run-7"},
				Type:             &commonpb.WorkflowType{Name: pipeline.WorkflowName},
				Status:           st,
				HistoryLength:    42,
				SearchAttributes: &commonpb.SearchAttributes{IndexedFields: sa},
			},
			PendingActivities: []*workflowpb.PendingActivityInfo{{ActivityId: "5", Attempt: 2}},
		}
	}
	for _, tc := range []struct {
		name string
		resp *workflowservice.DescribeWorkflowExecutionResponse
		err  error
		want runState
		msg  string
	}{
		{name: "waiting", resp: info(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, map[string]*commonpb.Payload{
			"TerminatePhase": payload(pipeline.PhaseWaiting, "Keyword"), "VmStatus": payload("error_terminate", "Keyword"),
			"ServiceId": payload(7, "Int"),
		}), want: runState{exists: true, running: true, phase: pipeline.PhaseWaiting}},
		{name: "grace", resp: info(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, map[string]*commonpb.Payload{
			"TerminatePhase": payload(pipeline.PhaseGrace, "Keyword"), "GraceUntil": payload(until, "Datetime"),
		}), want: runState{exists: true, running: true, phase: pipeline.PhaseGrace, graceUntil: &until}},
		{name: "completed", resp: info(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, nil), want: runState{exists: true}},
		{name: "no run", err: serviceerror.NewNotFound("workflow not found"), want: runState{}},
		{name: "no namespace", err: serviceerror.NewNamespaceNotFound("ns-wire"), msg: "temporal: Namespace ns-wire is not found."},
		{name: "refused", err: serviceerror.NewPermissionDenied("not for you", ""), msg: "temporal: not for you"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFrontend{describe: tc.resp, describeErr: tc.err}
			addr := startFake(t, f)
			w := newWireClient(addr, "ns-wire")
			t.Cleanup(w.close)
			got, err := w.describe(context.Background(), 7)
			if tc.msg != "" {
				require.EqualError(t, err, tc.msg)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, got)

			// What the SDK reads from the same answer.
			d, err := sdkClient(t, addr).DescribeWorkflow(context.Background(), pipeline.WorkflowID(7), "")
			var nf *serviceerror.NotFound
			switch {
			case errors.As(err, &nf):
				require.Equal(t, runState{}, got)
			case err != nil:
				require.Error(t, err)
			default:
				sdk := runState{exists: true, running: d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}
				sdk.phase, _ = d.TypedSearchAttributes.GetKeyword(pipeline.SAPhase)
				if u, ok := d.TypedSearchAttributes.GetTime(pipeline.SAGraceUntil); ok {
					sdk.graceUntil = &u
				}
				require.Equal(t, sdk, got)
			}
			require.Len(t, f.describes, 2)
			require.True(t, proto.Equal(f.describes[1], f.describes[0]), "the SDK sent:\n%s\nthe click sent:\n%s", textOf(f.describes[1]), textOf(f.describes[0]))
			require.Equal(t, "ns-wire", f.namespaces[0])
		})
	}
}

// An address nothing listens on is one error naming it.
func TestWireDescribeOfAnUnreachableTemporal(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	w := newWireClient(addr, "default")
	t.Cleanup(w.close)
	_, err = w.describe(context.Background(), 1)
	require.ErrorContains(t, err, "temporal at "+addr+" is unreachable: ")
}
