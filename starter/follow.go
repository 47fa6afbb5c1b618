package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// follow prints the run's live lines as they appear: finished phases from
// the status query, the running phase from its activity's heartbeat. It
// returns when the run ends (exit 0 on success) or waits for an admin (exit 3)
// in an attempt numbered minAttempt or later.
func (s *session) follow(ctx context.Context, serviceID, minAttempt int, out io.Writer) (int, error) {
	c, err := s.temporal(ctx)
	if err != nil {
		return exitError, err
	}
	printed := map[string]bool{}
	emit := func(lines []pipeline.Line) {
		for _, l := range lines {
			key := strconv.FormatInt(l.At.UnixNano(), 10) + l.Text
			if !printed[key] {
				printed[key] = true
				fmt.Fprintln(out, l.Format(serviceID))
			}
		}
	}
	id := pipeline.WorkflowID(serviceID)
	for {
		st, qerr := s.query(ctx, serviceID)
		if qerr == nil {
			emit(st.Lines)
		}
		d, err := c.DescribeWorkflow(ctx, id, "")
		if err != nil {
			return exitError, fmt.Errorf("temporal: %v", err)
		}
		for _, pa := range d.RawResponse.PendingActivities {
			if pa.HeartbeatDetails == nil || len(pa.HeartbeatDetails.Payloads) == 0 {
				continue
			}
			var p activities.Progress
			if err := s.dataConverter().FromPayload(pa.HeartbeatDetails.Payloads[0], &p); err == nil {
				emit(p.Lines)
			}
		}
		switch d.RawResponse.WorkflowExecutionInfo.Status {
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			if qerr == nil && st.Phase == pipeline.PhaseWaiting && st.Attempt >= minAttempt {
				return exitWaiting, nil
			}
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			if st, err := s.query(ctx, serviceID); err == nil {
				emit(st.Lines)
			}
			return exitOK, nil
		default:
			return exitError, fmt.Errorf("workflow %s ended: %s", id, d.RawResponse.WorkflowExecutionInfo.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
