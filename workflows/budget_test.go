package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// maxSuccessEvents is the history budget of a successful run (the stop
// phase stops the guest, no force stop, no undo window): the server's cost
// follows its history.
const maxSuccessEvents = 30

// TestSuccessfulRunFitsTheHistoryBudget runs a termination on the dev
// server (stand-in activities, started as the starter starts it) and counts
// its history: every event over the budget is named.
func TestSuccessfulRunFitsTheHistoryBudget(t *testing.T) {
	const queue = "history-budget"
	c := standInWorker(t, queue)
	ctx := context.Background()
	run, err := startRun(ctx, c, queue, svcSuccess, pipeline.DefaultTiming())
	require.NoError(t, err)
	var res pipeline.Result
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, "terminated", res.Outcome)

	var kinds []string
	counts := map[enumspb.EventType]int{}
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		kinds = append(kinds, fmt.Sprintf("%d %s", ev.GetEventId(), strings.TrimPrefix(ev.GetEventType().String(), "EventTypeWorkflow")))
		counts[ev.GetEventType()]++
	}
	require.LessOrEqual(t, len(kinds), maxSuccessEvents, "history:\n%s", strings.Join(kinds, "\n"))
	// The three regular activities (StopVM, RemoveBackups, DeleteVM) and
	// four markers: the version and the local LoadTarget, CheckDeletable,
	// DeleteDNS and CleanDB.
	require.Equal(t, 3, counts[enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED], "history:\n%s", strings.Join(kinds, "\n"))
	require.Equal(t, 5, counts[enumspb.EVENT_TYPE_MARKER_RECORDED], "history:\n%s", strings.Join(kinds, "\n"))
	t.Logf("%d events", len(kinds))
}
