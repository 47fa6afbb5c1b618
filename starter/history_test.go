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
// UPDATE_REPLAY_HISTORY is set, for the replay test there. It never
// replaces a file: a history recorded on released code must replay on every
// later version, so a new version's histories get new names.
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
	path := filepath.Join(testenv.RepoRoot(), "workflows", "testdata", name+".json")
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists: recorded histories are never replaced; record under a new name", path)
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
}
