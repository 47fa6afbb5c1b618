package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// recordHistory writes a finished run's history to workflows/testdata when
// UPDATE_REPLAY_HISTORY is set, for the replay test there. Refresh it after
// an intended, versioned change of the workflow.
func recordHistory(t *testing.T, serviceID int, name string) {
	t.Helper()
	if os.Getenv("UPDATE_REPLAY_HISTORY") == "" {
		return
	}
	c := testenv.DevServer(t).Client()
	it := c.GetWorkflowHistory(context.Background(), pipeline.WorkflowID(serviceID), "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(testenv.RepoRoot(), "workflows", "testdata", name+".json"), b, 0o644))
}
