package app_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// The worker's stop path (Deps.Close, after the Temporal worker stopped)
// writes the queued module-log rows before the pool closes; later rows are
// dropped and counted.
func TestDepsCloseFlushesTheModuleLog(t *testing.T) {
	store, dbcfg := testenv.NewDatabase(t)
	deps, err := app.Open(&config.Config{Database: dbcfg}, io.Discard)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		deps.ModuleLog.Add(dbmodel.ModuleLogEntry{Action: "proxmox GET /version"})
	}
	require.NoError(t, deps.Close())
	rows, err := store.ModuleLogs(context.Background())
	require.NoError(t, err)
	require.Len(t, rows, 3)
	deps.ModuleLog.Add(dbmodel.ModuleLogEntry{Action: "late"})
	require.EqualValues(t, 1, deps.ModuleLog.Dropped())
	require.Len(t, deps.Collectors(), 2)
}
