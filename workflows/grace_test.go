package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

const testDelay = 72 * time.Hour

// graceInput is input() with an undo window of testDelay.
func graceInput() pipeline.Input {
	in := input()
	in.Timing.DestroyDelay = testDelay
	in.RestoreTo = "ready"
	return in
}

// mockGrace mocks the undo window's activities; startErr is StartVM's answer.
func (f *fixture) mockGrace(t *testing.T, startErr error) {
	f.env.OnActivity(a.EnterGrace, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.GraceInput) (activities.GraceResult, error) {
		f.record("grace")
		require.Equal(t, testDelay, in.Until.Sub(f.env.Now()).Round(time.Minute))
		return activities.GraceResult{Lines: line("undo window")}, nil
	}).Maybe()
	answer(f, a.LeaveGrace, "leave", activities.GraceResult{Lines: line("undo window over")}, nil)
	answer(f, a.StartVM, "start", activities.StartResult{Lines: line("restore: VM running again")}, startErr)
	f.env.OnActivity(a.RecordRestore, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.GraceInput) (activities.GraceResult, error) {
		f.record("restore:" + in.To)
		return activities.GraceResult{Lines: line("restored: vm_status=" + in.To)}, nil
	}).Maybe()
}

// graceFixture stops the VM and waits out the undo window; deletes are
// DeleteVM's answers.
func graceFixture(t *testing.T, startErr error, deletes ...error) *fixture {
	f := mockedFixture(t, func(f *fixture) { f.mockGrace(t, startErr) })
	f.stop(true, nil)
	f.deletes(deletes...)
	return f
}

// With a 72 h delay the VM is stopped, then nothing else is touched until
// the timer fires: then backups, DNS, DELETE and clean DB as without one.
func TestGraceWaitsThenDestroys(t *testing.T) {
	f := graceFixture(t, nil, nil)
	var start time.Time
	f.env.RegisterDelayedCallback(func() { start = f.env.Now() }, 0)
	f.env.RegisterDelayedCallback(func() {
		st := f.status(t)
		require.Equal(t, pipeline.PhaseGrace, st.Phase)
		require.Equal(t, "grace", st.VMStatus)
		require.NotNil(t, st.GraceUntil)
		require.WithinDuration(t, start.Add(testDelay), *st.GraceUntil, time.Second)
		require.Equal(t, []string{"load", "stop", "grace"}, f.calls)
	}, testDelay-time.Minute)
	f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
	require.Equal(t, "terminated", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop", "grace", "leave", "backups", "dns", "delete", "cleandb"}, f.calls)
	require.GreaterOrEqual(t, f.env.Now().Sub(start), testDelay)
	st := f.status(t)
	require.Nil(t, st.GraceUntil)
	require.Equal(t, "remove", st.VMStatus)
}

// Days pass in the undo window: protection set meanwhile makes the check
// after the window refuse, and the backups and DNS records stay.
func TestCheckAfterGraceRefusesAProtectionSetMeanwhile(t *testing.T) {
	const reason = "can't remove VM 2003 - protection mode enabled"
	checks := 0
	f := mockedFixture(t, func(f *fixture) {
		f.mockGrace(t, nil)
		f.env.OnActivity(a.CheckDeletable, mock.Anything, mock.Anything).Return(func(_ context.Context, _ pipeline.Target) (activities.DeletableResult, error) {
			f.record("check")
			if checks++; checks == 1 {
				return activities.DeletableResult{}, nil
			}
			return activities.DeletableResult{Refusal: reason, Class: pve.ClassProtected, Lines: line("Proxmox will refuse the DELETE: " + reason)}, nil
		})
	})
	f.stop(true, nil)
	f.deletes(nil)
	f.env.RegisterDelayedCallback(func() {
		st := f.status(t)
		require.Equal(t, pipeline.PhaseWaiting, st.Phase)
		require.Equal(t, reason, st.LastError)
		f.env.SignalWorkflow(pipeline.SignalReset, "ready")
	}, testDelay+time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
	require.Equal(t, "reset:ready", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop", "check", "grace", "leave", "check", "failure:" + reason, "status:ready"}, f.calls)
}

// A restore at 71 h starts the VM again, puts vm_status back to what it
// was before the click and ends the run "restored": no backup, DNS record
// or VM is removed.
func TestRestoreDuringGrace(t *testing.T) {
	f := graceFixture(t, nil, nil)
	var u *updateResult
	f.env.RegisterDelayedCallback(func() { u = f.update(pipeline.UpdateRestore) }, 71*time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
	require.Equal(t, "restored", f.result(t).Outcome)
	u.requireAnswered(t, "ready")
	require.Equal(t, []string{"load", "stop", "grace", "start", "restore:ready"}, f.calls)
	st := f.status(t)
	require.Equal(t, pipeline.PhaseDone, st.Phase)
	require.Equal(t, "ready", st.VMStatus)
	require.Equal(t, "restored", st.Result)
	require.Nil(t, st.GraceUntil)
}

// The restore signal does what the Update does.
func TestRestoreSignalDuringGrace(t *testing.T) {
	f := graceFixture(t, nil, nil)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalRestore, nil) }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
	require.Equal(t, "restored", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop", "grace", "start", "restore:ready"}, f.calls)
}

// destroy-now (starter terminate --now) skips the rest of the wait.
func TestDestroyNowSkipsTheRestOfGrace(t *testing.T) {
	f := graceFixture(t, nil, nil)
	var u *updateResult
	f.env.RegisterDelayedCallback(func() { u = f.update(pipeline.UpdateDestroyNow) }, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		require.Equal(t, []string{"load", "stop", "grace", "leave", "backups", "dns", "delete", "cleandb"}, f.calls)
	}, 2*time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
	require.Equal(t, "terminated", f.result(t).Outcome)
	u.requireAnswered(t, "terminate")
}

// Restore and destroy-now outside the undo window are each rejected with
// the reason, and change nothing.
func TestBadGraceCallsAreRefused(t *testing.T) {
	t.Run("after the deadline", func(t *testing.T) {
		f := graceFixture(t, nil, running())
		var restore, now *updateResult
		f.env.RegisterDelayedCallback(func() {
			require.Equal(t, pipeline.PhaseWaiting, f.status(t).Phase)
			restore = f.update(pipeline.UpdateRestore)
			now = f.update(pipeline.UpdateDestroyNow)
		}, testDelay+time.Hour)
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "remove") }, testDelay+2*time.Hour)
		f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
		require.Equal(t, "removed", f.result(t).Outcome)
		require.False(t, restore.accepted)
		require.ErrorContains(t, restore.rejected, "restore: the undo window ended at ")
		require.False(t, now.accepted)
		require.ErrorContains(t, now.rejected, "destroy-now: the undo window ended at ")
		require.Equal(t, []string{"load", "stop", "grace", "leave", "backups", "dns", "delete",
			"failure:VM 2003 is running - destroy failed", "status:remove"}, f.calls)
	})
	t.Run("no delay", func(t *testing.T) {
		f := graceFixture(t, nil, running())
		var restore, now *updateResult
		f.env.RegisterDelayedCallback(func() {
			restore = f.update(pipeline.UpdateRestore)
			now = f.update(pipeline.UpdateDestroyNow)
		}, time.Hour)
		f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "remove") }, 2*time.Hour)
		f.env.ExecuteWorkflow(TerminateWorkflow, input())
		require.Equal(t, "removed", f.result(t).Outcome)
		require.ErrorContains(t, restore.rejected, "restore: this run has no undo window (timing.destroy_delay was 0 when it started)")
		require.ErrorContains(t, now.rejected, "destroy-now: this run has no undo window")
		require.Equal(t, []string{"load", "stop", "backups", "dns", "delete",
			"failure:VM 2003 is running - destroy failed", "status:remove"}, f.calls)
	})
	t.Run("before the window", func(t *testing.T) {
		f := graceFixture(t, nil, nil)
		var restore *updateResult
		f.env.RegisterDelayedCallback(func() {
			restore = f.update(pipeline.UpdateRestore)
			f.env.SignalWorkflow(pipeline.SignalRestore, nil)
		}, 0)
		f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
		require.Equal(t, "terminated", f.result(t).Outcome)
		require.ErrorContains(t, restore.rejected, "restore: the undo window has not begun")
		require.Contains(t, texts(f.status(t).Lines), "admin: ignored restore sent before the undo window")
		require.Equal(t, []string{"load", "stop", "grace", "leave", "backups", "dns", "delete", "cleandb"}, f.calls)
	})
	t.Run("reset during the window", func(t *testing.T) {
		f := graceFixture(t, nil, nil)
		var reset *updateResult
		f.env.RegisterDelayedCallback(func() { reset = f.update(pipeline.UpdateResetStatus, "ready") }, time.Hour)
		f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
		require.Equal(t, "terminated", f.result(t).Outcome)
		require.ErrorContains(t, reset.rejected, "not waiting in error_terminate (phase grace)")
		require.Equal(t, []string{"load", "stop", "grace", "leave", "backups", "dns", "delete", "cleandb"}, f.calls)
	})
}

// A restore Proxmox does not carry out is answered with the reason; the
// run stays in its undo window and destroys when it ends.
func TestFailedRestoreStaysInGrace(t *testing.T) {
	f := graceFixture(t, errors.New("node unreachable"), nil)
	var u *updateResult
	f.env.RegisterDelayedCallback(func() { u = f.update(pipeline.UpdateRestore) }, time.Hour)
	f.env.RegisterDelayedCallback(func() { require.Equal(t, pipeline.PhaseGrace, f.status(t).Phase) }, 2*time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, graceInput())
	require.Equal(t, "terminated", f.result(t).Outcome)
	require.True(t, u.accepted)
	require.ErrorContains(t, u.err, "admin: restore failed: node unreachable; still in the undo window until ")
	require.Equal(t, []string{"load", "stop", "grace", "start", "start", "start", "leave", "backups", "dns", "delete", "cleandb"}, f.calls)
}

func texts(lines []pipeline.Line) []string {
	var s []string
	for _, l := range lines {
		s = append(s, l.Text)
	}
	return s
}
