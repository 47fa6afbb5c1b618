package dbmodel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// A batch larger than one INSERT is written whole, in order, each row with
// the time of its call and the configured module name.
func TestWriteModuleLogBatch(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 1, 33, 0, 0, time.UTC)
	var entries []dbmodel.ModuleLogEntry
	for i := 0; i < 450; i++ {
		entries = append(entries, dbmodel.ModuleLogEntry{At: at.Add(time.Duration(i) * time.Second), Action: fmt.Sprintf("proxmox GET /n/%d", i),
			Request: "req", Response: "resp", Arr: map[string]any{"i": i}})
	}
	require.NoError(t, store.WriteModuleLogBatch(ctx, entries))
	require.NoError(t, store.WriteModuleLogBatch(ctx, nil))
	rows, err := store.ModuleLogs(ctx)
	require.NoError(t, err)
	require.Len(t, rows, 450)
	for i, r := range rows {
		require.Equal(t, fmt.Sprintf("proxmox GET /n/%d", i), r.Action)
		require.Equal(t, "puqProxmoxKVM", r.Module)
		require.True(t, r.Date.Equal(at.Add(time.Duration(i)*time.Second)), "row %d date %s", i, r.Date)
		require.JSONEq(t, fmt.Sprintf(`{"i":%d}`, i), r.ArrData)
	}
}
