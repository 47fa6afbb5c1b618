//go:build record

// Recording the replay histories of the current workflow version:
//
//	TEMPORAL_CLI=/path/to/temporal go test -tags record -count=1 -run TestRecordHistories ./workflows/
//
// runs each scenario on the dev server against stand-in activities (the
// workflow's commands depend only on what activities answer) and writes
// testdata/history-v<current version>-<scenario>.json (v3 since
// versionLean; run only the scenarios a version adds, e.g. -run
// 'TestRecordHistories/grace'). Older histories stay: the replay test
// proves runs started on older code still replay.
package workflows

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// recordedVersion names the files the recorder writes: the workflow
// version new runs take.
var recordedVersion = fmt.Sprintf("v%d", versionLatest)

func TestRecordHistories(t *testing.T) {
	const queue = "record-histories"
	c := standInWorker(t, queue)
	ctx := context.Background()
	tm := pipeline.DefaultTiming()
	tm.DeleteAttempts = 1

	waitPhase := func(id int, phase string) {
		require.Eventually(t, func() bool {
			v, err := c.QueryWorkflow(ctx, pipeline.WorkflowID(id), "", pipeline.QueryStatus)
			if err != nil {
				return false
			}
			var st pipeline.Status
			return v.Get(&st) == nil && st.Phase == phase
		}, 2*time.Minute, 100*time.Millisecond)
	}
	update := func(id int, name string, args ...any) {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: pipeline.WorkflowID(id), UpdateName: name, Args: args, WaitForStage: client.WorkflowUpdateStageCompleted})
		require.NoError(t, err)
		var r pipeline.AdminReply
		require.NoError(t, h.Get(ctx, &r))
	}
	// The undo window's scenarios (versionGrace): one that runs out, one
	// restored while it lasts.
	delays := map[int]time.Duration{svcGrace: 3 * time.Second, svcRestore: time.Hour}
	for _, sc := range []struct {
		id    int
		name  string
		admin func(id int, first string)
	}{
		{svcSuccess, "success", nil},
		{svcRetry, "failure-retry", func(id int, _ string) { update(id, pipeline.UpdateResetStatus, "terminate") }},
		{svcRefusal, "refusal-at-load", func(id int, _ string) {
			require.NoError(t, c.SignalWorkflow(ctx, pipeline.WorkflowID(id), "", pipeline.SignalReset, 42))
			require.NoError(t, c.SignalWorkflow(ctx, pipeline.WorkflowID(id), "", pipeline.SignalReset, "ready"))
		}},
		{svcIdentity, "identity-mismatch", func(id int, _ string) { update(id, pipeline.UpdateDeleteRecord) }},
		{svcTimeout, "delete-timeout", nil},
		{svcRefused, "delete-refused", func(id int, _ string) {
			require.NoError(t, c.SignalWorkflow(ctx, pipeline.WorkflowID(id), "", pipeline.SignalReset, "remove"))
		}},
		// Re-queued until the run continues as new; the next run waits and
		// is reset to ready (recorded as history-v1-continued-next).
		{svcLong, "continued", func(id int, first string) {
			for i := 1; i < maxAttemptsPerRun; i++ {
				update(id, pipeline.UpdateResetStatus, "terminate")
				waitPhase(id, pipeline.PhaseWaiting)
			}
			require.Eventually(t, func() bool {
				d, err := c.DescribeWorkflow(ctx, pipeline.WorkflowID(id), "")
				return err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId() != first
			}, time.Minute, 100*time.Millisecond)
			waitPhase(id, pipeline.PhaseWaiting)
			update(id, pipeline.UpdateResetStatus, "ready")
		}},
		{svcGrace, "grace-success", nil},
		{svcRestore, "grace-restore", func(id int, _ string) { update(id, pipeline.UpdateRestore) }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			stm := tm
			stm.DestroyDelay = delays[sc.id]
			run, err := startRun(ctx, c, queue, sc.id, stm)
			require.NoError(t, err)
			first := run.GetRunID() // Get follows a continue-as-new
			if sc.admin != nil {
				phase := pipeline.PhaseWaiting
				if sc.id == svcRestore {
					phase = pipeline.PhaseGrace
				}
				waitPhase(sc.id, phase)
				sc.admin(sc.id, first)
			}
			var res pipeline.Result
			require.NoError(t, run.Get(ctx, &res))
			write := func(runID, name string) {
				path := filepath.Join("testdata", "history-"+recordedVersion+"-"+name+".json")
				require.NoError(t, testenv.WriteHistory(ctx, c, pipeline.WorkflowID(sc.id), runID, path, false))
			}
			write(first, sc.name)
			if sc.id == svcLong {
				write("", sc.name+"-next")
			}
		})
	}
}
