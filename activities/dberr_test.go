package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// A VM row deleted while the run held it: every database activity fails at
// once with the non-retryable row_gone type instead of a plain error that
// an unlimited retry policy would repeat forever.
func TestDatabaseActivitiesRowGoneIsPermanent(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	f := newFx(t, store)
	ctx := context.Background()
	require.NoError(t, stack.Seed(ctx, store, stack.Service{ID: 601, UserID: 11, Domain: "g.example.com", VMID: 140, Node: "pve1", VMName: "g"}))
	require.NoError(t, store.DB().Table(store.Config().VMTable).Where("service_id = ?", 601).Delete(&dbmodel.VMInfo{}).Error)

	in := activities.FinishInput{Target: target(140, "g"), StartedAt: time.Now(), Phase: pipeline.PhaseDelete, Reason: "x"}
	in.Target.ServiceID, in.Target.UserID = 601, 11
	for name, run := range map[string]func() error{
		"CleanDB":       func() error { _, err := f.env.ExecuteActivity(f.acts.CleanDB, in); return err },
		"RecordFailure": func() error { _, err := f.env.ExecuteActivity(f.acts.RecordFailure, in); return err },
		"SetVMStatus": func() error {
			_, err := f.env.ExecuteActivity(f.acts.SetVMStatus, activities.AdminInput{ServiceID: 601, Status: dbmodel.StatusRemove})
			return err
		},
	} {
		err := run()
		require.Error(t, err, name)
		app := appErr(t, err)
		require.Equal(t, pipeline.ErrRowGone, app.Type(), name)
		require.True(t, app.NonRetryable(), name)
		require.Contains(t, app.Message(), "service 601 has no VM row", name)
	}
	logs, err := store.ActivityLogs(ctx, 11)
	require.NoError(t, err)
	require.Empty(t, logs, "no activity-log entry for a row that is gone")
}
