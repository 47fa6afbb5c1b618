package invariant

import (
	"context"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// DescribeWorkflow is the service's run as Temporal has it: its status, a
// failed run's failure and a running one's phase (from the status query).
// Known is false when Temporal did not answer within timeout.
func DescribeWorkflow(ctx context.Context, tc client.Client, id int, timeout time.Duration) Workflow {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := tc.DescribeWorkflow(ctx, pipeline.WorkflowID(id), "")
	if err != nil {
		return Workflow{}
	}
	st := d.RawResponse.WorkflowExecutionInfo.Status
	wf := Workflow{Known: true, Status: strings.TrimPrefix(enumspb.WorkflowExecutionStatus_name[int32(st)], "WORKFLOW_EXECUTION_STATUS_")}
	if st == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
		wf.Failure = closeFailure(ctx, tc, id)
	}
	if st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := tc.QueryWorkflow(ctx, pipeline.WorkflowID(id), "", pipeline.QueryStatus)
		if err != nil {
			return Workflow{}
		}
		var status pipeline.Status
		if err := v.Get(&status); err != nil {
			return Workflow{}
		}
		wf.Phase = status.Phase
	}
	return wf
}

// closeFailure is the failure of a failed run, with its cause.
func closeFailure(ctx context.Context, tc client.Client, id int) string {
	it := tc.GetWorkflowHistory(ctx, pipeline.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return ""
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			msg := a.GetFailure().GetMessage()
			if c := a.GetFailure().GetCause(); c != nil {
				msg += ": " + c.GetMessage()
			}
			return msg
		}
	}
	return ""
}
