package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// blockingSink is a database that does not answer until released.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	rows    []dbmodel.ModuleLogEntry
	calls   int
}

func (s *blockingSink) WriteModuleLogBatch(ctx context.Context, e []dbmodel.ModuleLogEntry) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.rows = append(s.rows, e...)
	s.mu.Unlock()
	return nil
}

func (s *blockingSink) written() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

// Every Proxmox call returns while the module-log database hangs; the rows
// wait in the queue and are all written once it answers, at Close at the latest.
func TestModuleLogSlowDatabaseDoesNotStallCalls(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	w := activities.NewModuleLogWriter(sink, activities.ModuleLogWriterOptions{Batch: 5, Interval: 10 * time.Millisecond, WriteTimeout: time.Hour})
	ml := activities.ModuleLog{Secrets: activities.Redactor{stack.TokenSecret}, Writer: w}
	sim := pvesim.New(pvesim.Options{})
	require.NoError(t, sim.LoadFixture(stack.Cluster()))
	u, err := sim.Start("127.0.0.1:0", false)
	require.NoError(t, err)
	defer sim.Close()
	require.NoError(t, sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 150, Name: "m"}))
	c, err := pve.New(pve.Config{Name: stack.ServerName, URL: strings.TrimSuffix(u, "/api2/json"), TokenID: stack.TokenID, TokenSecret: stack.TokenSecret}, ml.PVEObserver())
	require.NoError(t, err)
	const calls = 20
	for i := 0; i < calls; i++ {
		_, err := c.VMStatus(context.Background(), "pve1", 150)
		require.NoError(t, err)
	}
	require.Zero(t, sink.written(), "no row could be written yet: the database hangs")
	require.Equal(t, calls, w.Queued())
	close(sink.release)
	require.NoError(t, w.Close(context.Background()))
	require.Equal(t, calls, sink.written())
	require.Zero(t, w.Dropped())
}

// Rows queued when the worker stops are written by Close, into
// tblmodulelog, with the secrets redacted as before and the call's time.
func TestModuleLogFlushedOnClose(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	w := activities.NewModuleLogWriter(store, activities.ModuleLogWriterOptions{Batch: 1000, Interval: time.Hour})
	ml := activities.ModuleLog{Store: store, Secrets: activities.Redactor{stack.TokenSecret}, Writer: w}
	obs := ml.PVEObserver()
	before := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < 3; i++ {
		obs(context.Background(), pve.Call{Server: "s", Method: "POST", Path: "/nodes/pve1/qemu/100/status/stop",
			Request: "token=" + stack.TokenSecret, Response: `{"data":"UPID"}`, Status: 200, Err: "x " + stack.TokenSecret})
	}
	rows, err := store.ModuleLogs(context.Background())
	require.NoError(t, err)
	require.Empty(t, rows, "nothing written before the flush")
	require.NoError(t, w.Close(context.Background()))
	rows, err = store.ModuleLogs(context.Background())
	require.NoError(t, err)
	require.Len(t, rows, 3)
	for _, r := range rows {
		require.Equal(t, "proxmox POST /nodes/pve1/qemu/100/status/stop", r.Action)
		require.Equal(t, "token=[redacted]", r.Request)
		require.Contains(t, r.ArrData, `"error":"x [redacted]"`)
		require.NotContains(t, r.ArrData+r.Request+r.Response, stack.TokenSecret)
		require.False(t, r.Date.Before(before), "the row carries the call's time")
	}
	// After Close, rows are dropped and counted, never written.
	obs(context.Background(), pve.Call{Method: "GET", Path: "/version"})
	require.EqualValues(t, 1, w.Dropped())
}

type deadSink struct{}

func (deadSink) WriteModuleLogBatch(context.Context, []dbmodel.ModuleLogEntry) error {
	return errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
}

// A database that stays away: the queue holds Capacity rows, every row
// beyond is dropped and counted, and Close counts what it could not write.
func TestModuleLogDropsCountedWhenDatabaseStaysAway(t *testing.T) {
	w := activities.NewModuleLogWriter(deadSink{}, activities.ModuleLogWriterOptions{Capacity: 5, Batch: 2, Interval: 5 * time.Millisecond})
	for i := 0; i < 12; i++ {
		w.Add(dbmodel.ModuleLogEntry{Action: "proxmox GET /version"})
	}
	require.EqualValues(t, 7, w.Dropped())
	require.Equal(t, 5, w.Queued())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := w.Close(ctx)
	require.ErrorContains(t, err, "5 rows not written at shutdown")
	require.ErrorContains(t, err, "connection refused")
	require.EqualValues(t, 12, w.Dropped())
}
