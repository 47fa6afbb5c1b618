package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// TestReplayRecordedHistories replays histories recorded from real runs on
// the dev server (workflows/record_test.go with -tags record, and starter's
// integration tests with UPDATE_REPLAY_HISTORY=1; neither replaces a file). A change to the workflow that would break runs
// in flight fails here: version it with workflow.GetVersion instead.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/history-*.json")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(TerminateWorkflow, workflow.RegisterOptions{Name: pipeline.WorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
