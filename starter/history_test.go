package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

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
	path := filepath.Join(testenv.RepoRoot(), "workflows", "testdata", name+".json")
	require.NoError(t, testenv.WriteHistory(context.Background(), testenv.DevServer(t).Client(), pipeline.WorkflowID(serviceID), "", path, false))
}
