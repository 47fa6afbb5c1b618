package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

func (f *fixture) status(t *testing.T) pipeline.Status {
	t.Helper()
	v, err := f.env.QueryWorkflow(pipeline.QueryStatus)
	require.NoError(t, err)
	var st pipeline.Status
	require.NoError(t, v.Get(&st))
	return st
}

func rowGone() error {
	return temporal.NewNonRetryableApplicationError("the VM row of service 42 is gone", pipeline.ErrRowGone, nil)
}

// A DELETE Proxmox will certainly refuse destroys nothing: the backups and
// DNS records stay and the attempt ends in error_terminate with Proxmox's
// own reason.
func TestRefusedDeleteKeepsBackupsAndDNS(t *testing.T) {
	for _, tc := range []struct{ reason, class string }{
		{"can't remove VM 2003 - protection mode enabled", pve.ClassProtected},
		{"VM 2003 is running - destroy failed", pve.ClassRunning},
	} {
		t.Run(tc.class, func(t *testing.T) {
			f := newFixture(t)
			n := 0
			f.env.OnActivity(a.CheckDeletable, mock.Anything, mock.Anything).Return(func(_ context.Context, _ pipeline.Target) (activities.DeletableResult, error) {
				f.record("check")
				return activities.DeletableResult{Refusal: tc.reason, Class: tc.class, Lines: line("Proxmox will refuse the DELETE: " + tc.reason)}, nil
			})
			f.mockAll(t, &n)
			f.stop(false, nil)
			f.force(false)
			f.deletes(nil)
			f.env.RegisterDelayedCallback(func() {
				st := f.status(t)
				require.Equal(t, pipeline.PhaseWaiting, st.Phase)
				require.Equal(t, tc.reason, st.LastError)
				f.env.SignalWorkflow(pipeline.SignalReset, "ready")
			}, time.Hour)
			f.env.ExecuteWorkflow(TerminateWorkflow, input())
			require.Equal(t, "reset:ready", f.result(t).Outcome)
			require.Equal(t, []string{"load", "stop", "force:UPID:pve1:1", "check", "failure:" + tc.reason, "status:ready"}, f.calls)
		})
	}
}

// A check that cannot answer is not a refusal: the pipeline goes on.
func TestDeletableCheckFailureIsNotFatal(t *testing.T) {
	f := mockedFixture(t, func(f *fixture) {
		f.env.OnActivity(a.CheckDeletable, mock.Anything, mock.Anything).Return(activities.DeletableResult{}, errors.New("node down"))
	})
	f.stop(true, nil)
	f.deletes(nil)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "terminated", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop", "backups", "dns", "delete", "cleandb"}, f.calls)
}

// The VM is deleted and its row vanished before clean DB: the run ends
// success, saying there was no row to clean.
func TestCleanDBWithoutRowEndsSuccess(t *testing.T) {
	f := mockedFixture(t, func(f *fixture) {
		f.env.OnActivity(a.CleanDB, mock.Anything, mock.Anything).Return(activities.FinishResult{}, rowGone())
	})
	f.stop(true, nil)
	f.deletes(nil)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "terminated", f.result(t).Outcome)
	st := f.status(t)
	require.Equal(t, "success", st.Result)
	require.Contains(t, st.Lines[len(st.Lines)-1].Text, "no VM row left to clean")
}

// A failed attempt whose row vanished cannot wait for an admin: the run
// ends failed, naming the attempt's reason.
func TestRecordFailureWithoutRowEndsTheRun(t *testing.T) {
	f := waitingFixture(t, func(f *fixture) {
		f.env.OnActivity(a.RecordFailure, mock.Anything, mock.Anything).Return(activities.FinishResult{}, rowGone())
	})
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.True(t, f.env.IsWorkflowCompleted())
	err := f.env.GetWorkflowError()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "%v", err)
	require.Equal(t, pipeline.ErrRowGone, app.Type())
	require.Contains(t, app.Message(), "VM 2003 is running - destroy failed")
	require.Equal(t, pipeline.PhaseDone, f.status(t).Phase)
}

// An admin's reset on a row that vanished ends the run failed; a
// delete-record on it ends it as deleted.
func TestAdminActionsWithoutRow(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		f := waitingFixture(t, func(f *fixture) {
			f.env.OnActivity(a.SetVMStatus, mock.Anything, mock.Anything).Return(activities.AdminResult{}, rowGone())
		})
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "ready") }, time.Hour)
		f.env.ExecuteWorkflow(TerminateWorkflow, input())
		var app *temporal.ApplicationError
		require.True(t, errors.As(f.env.GetWorkflowError(), &app))
		require.Equal(t, pipeline.ErrRowGone, app.Type())
		require.Contains(t, app.Message(), "the VM row is gone")
	})
	t.Run("delete-record", func(t *testing.T) {
		f := waitingFixture(t, func(f *fixture) {
			f.env.OnActivity(a.DeleteVMRecord, mock.Anything, mock.Anything).Return(activities.AdminResult{}, rowGone())
		})
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalDelete, nil) }, time.Hour)
		f.env.ExecuteWorkflow(TerminateWorkflow, input())
		require.Equal(t, "record-deleted", f.result(t).Outcome)
		require.Contains(t, f.status(t).Lines[len(f.status(t).Lines)-1].Text, "already gone")
	})
}

// Every malformed reset-status payload leaves a rejected line and changes
// nothing.
func TestEveryMalformedResetPayloadIsRejected(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload any
		shown   string
	}{
		{"bogus", "bogus", `"bogus"`},
		{"number", 42, `42`},
		{"object", map[string]string{"to": "terminate"}, `{"to":"terminate"}`},
		{"none", nil, `""`},
		{"empty", "", `""`},
		{"null", (*string)(nil), `""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := waitingFixture(t, nil)
			f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, tc.payload) }, time.Hour)
			f.env.RegisterDelayedCallback(func() {
				st := f.status(t)
				require.Equal(t, pipeline.PhaseWaiting, st.Phase)
				last := st.Lines[len(st.Lines)-1].Text
				require.Contains(t, last, "rejected reset-status "+tc.shown)
				require.Contains(t, last, "nothing changed")
				f.env.SignalWorkflow(pipeline.SignalDelete, nil)
			}, 2*time.Hour)
			f.env.ExecuteWorkflow(TerminateWorkflow, input())
			require.Equal(t, "record-deleted", f.result(t).Outcome)
			for _, c := range f.calls {
				require.False(t, strings.HasPrefix(c, "status:"), "a rejected signal must change nothing, got %v", f.calls)
			}
		})
	}
}

type updateResult struct {
	accepted bool
	rejected error
	reply    pipeline.AdminReply
	err      error
	done     bool
}

func (f *fixture) update(name string, args ...any) *updateResult {
	u := &updateResult{}
	f.env.UpdateWorkflow(name, "", &updateCallbacks{u: u}, args...)
	return u
}

// requireAnswered checks that the Update was accepted and completed
// without an error, replying vmStatus.
func (u *updateResult) requireAnswered(t *testing.T, vmStatus string) {
	t.Helper()
	require.True(t, u.accepted)
	require.True(t, u.done)
	require.NoError(t, u.err)
	require.Equal(t, vmStatus, u.reply.VMStatus)
}

type updateCallbacks struct{ u *updateResult }

func (c *updateCallbacks) Accept()          { c.u.accepted = true }
func (c *updateCallbacks) Reject(err error) { c.u.rejected = err }
func (c *updateCallbacks) Complete(v any, err error) {
	c.u.done, c.u.err = true, err
	if r, ok := v.(pipeline.AdminReply); ok {
		c.u.reply = r
	}
}

// The admin Updates: rejected with the reason when the run is not waiting
// or the target is unknown; a reset to terminate answers with the number
// of the attempt it started.
func TestAdminUpdates(t *testing.T) {
	f := mockedFixture(t, nil)
	f.stop(true, nil)
	f.deletes(running(), nil)
	var early, bad, again *updateResult
	f.env.RegisterDelayedCallback(func() { early = f.update(pipeline.UpdateResetStatus, "terminate") }, 0)
	f.env.RegisterDelayedCallback(func() {
		bad = f.update(pipeline.UpdateResetStatus, "explode")
	}, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		again = f.update(pipeline.UpdateResetStatus, " terminate ")
	}, 2*time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "terminated", f.result(t).Outcome)

	require.False(t, early.accepted)
	require.ErrorContains(t, early.rejected, "not waiting in error_terminate")
	require.False(t, bad.accepted)
	require.ErrorContains(t, bad.rejected, `reset-status "explode": expected one of terminate, remove`)
	require.True(t, again.accepted)
	require.True(t, again.done)
	require.NoError(t, again.err)
	require.Equal(t, pipeline.AdminReply{VMStatus: "terminate", Attempt: 2, Line: "admin: re-queued; attempt 2 started"}, again.reply)
	require.Equal(t, []string{"load", "stop", "backups", "dns", "delete", "failure:VM 2003 is running - destroy failed",
		"status:terminate", "load", "stop", "backups", "dns", "delete", "cleandb"}, f.calls)
}

func TestAdminUpdateDeleteRecord(t *testing.T) {
	f := waitingFixture(t, nil)
	var u *updateResult
	f.env.RegisterDelayedCallback(func() { u = f.update(pipeline.UpdateDeleteRecord) }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "record-deleted", f.result(t).Outcome)
	u.requireAnswered(t, "")
}

// A run waiting after many attempts continues as new with what the next
// run needs; the next run waits at once and keeps counting attempts.
func TestWaitingRunContinuesAsNew(t *testing.T) {
	f := newFixture(t)
	n := 0
	f.mockAll(t, &n)
	f.stop(true, nil)
	f.deletes(running())
	for i := 1; i < maxAttemptsPerRun; i++ {
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "terminate") }, time.Duration(i)*time.Hour)
	}
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.True(t, f.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(f.env.GetWorkflowError(), &can), "%v", f.env.GetWorkflowError())
	st := f.status(t)
	require.Equal(t, maxAttemptsPerRun, st.Attempt)
	summaries := 0
	for _, l := range st.Lines {
		if strings.Contains(l.Text, "lines summarised") {
			summaries++
		}
	}
	require.Equal(t, maxAttemptsPerRun-fullAttempts, summaries, "older attempts are summarised")
	require.Contains(t, st.Lines[0].Text, "attempt 1: ")

	// The next run starts waiting, with the last one's state.
	var next pipeline.Input
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Resume)
	require.Equal(t, maxAttemptsPerRun, next.Resume.Attempt)
	require.Equal(t, "VM 2003 is running - destroy failed", next.Resume.LastError)

	g := newFixture(t)
	g.mockAll(t, &n)
	g.stop(true, nil)
	g.deletes(nil)
	g.env.RegisterDelayedCallback(func() {
		st := g.status(t)
		require.Equal(t, pipeline.PhaseWaiting, st.Phase)
		require.Equal(t, "error_terminate", st.VMStatus)
		g.env.SignalWorkflow(pipeline.SignalReset, "terminate")
	}, time.Hour)
	g.env.ExecuteWorkflow(TerminateWorkflow, next)
	r := g.result(t)
	require.Equal(t, "terminated", r.Outcome)
	require.Equal(t, maxAttemptsPerRun+1, r.Attempts)
	require.Equal(t, []string{"status:terminate", "load", "stop", "backups", "dns", "delete", "cleandb"}, g.calls)
}

// A vmid handed to another VM since the stop phases is an identity
// mismatch at the check: nothing is destroyed.
func TestDeletableCheckIdentityMismatchTouchesNothing(t *testing.T) {
	f := newFixture(t)
	n := 0
	msg := `identity mismatch at pve1/2003: the record describes name "vm42", Proxmox has name "other"; touching nothing`
	f.env.OnActivity(a.CheckDeletable, mock.Anything, mock.Anything).Return(activities.DeletableResult{},
		temporal.NewNonRetryableApplicationError(msg, pipeline.ErrIdentityMismatch, nil))
	f.mockAll(t, &n)
	f.stop(true, nil)
	f.deletes(nil)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "remove") }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "removed", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop", "failure:" + msg, "status:remove"}, f.calls)
}

// A huge payload is named, not copied, in the rejection line.
func TestHugeResetPayloadIsRejectedBriefly(t *testing.T) {
	f := waitingFixture(t, nil)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, strings.Repeat("terminate", 7000)) }, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		last := f.status(t).Lines
		text := last[len(last)-1].Text
		require.Contains(t, text, `rejected reset-status "terminateterminate`)
		require.Less(t, len(text), 300)
		f.env.SignalWorkflow(pipeline.SignalDelete, nil)
	}, 2*time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "record-deleted", f.result(t).Outcome)
}
