package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

var target = pipeline.Target{ServiceID: 42, UserID: 7, Server: "pve", Node: "pve1", VMID: 2003, VMName: "vm42",
	Domain: "vm42.example.com", IPs: []string{"192.0.2.10"}, VMStatus: "terminate", Attempt: 1}

func line(s string) []pipeline.Line { return []pipeline.Line{{At: time.Unix(0, 0).UTC(), Text: s}} }

type fixture struct {
	testsuite.WorkflowTestSuite
	env   *testsuite.TestWorkflowEnvironment
	calls []string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	f.env = f.NewTestWorkflowEnvironment()
	f.env.RegisterWorkflow(TerminateWorkflow)
	f.env.RegisterActivity(&activities.Activities{})
	return f
}

func (f *fixture) record(name string) { f.calls = append(f.calls, name) }

// answer mocks the activity fn: each call records name and returns res
// and err.
func answer[In, Res any](f *fixture, fn func(context.Context, In) (Res, error), name string, res Res, err error) {
	f.env.OnActivity(fn, mock.Anything, mock.Anything).Return(func(context.Context, In) (Res, error) {
		f.record(name)
		return res, err
	}).Maybe()
}

// happy mocks every phase as succeeding; tests override single phases.
func (f *fixture) mockAll(t *testing.T, attempt *int) {
	f.env.OnActivity(a.LoadTarget, mock.Anything, 42).Return(func(_ context.Context, _ int) (activities.LoadResult, error) {
		f.record("load")
		*attempt++
		tg := target
		tg.Attempt = *attempt
		return activities.LoadResult{Target: tg, Lines: line("[terminate] starting")}, nil
	}).Maybe()
	f.env.OnActivity(a.CheckDeletable, mock.Anything, mock.Anything).Return(activities.DeletableResult{}, nil).Maybe()
	answer(f, a.RemoveBackups, "backups", activities.BackupsResult{Lines: line("backups removed")}, nil)
	answer(f, a.DeleteDNS, "dns", activities.DNSResult{Lines: line("deleting DNS records")}, nil)
	f.env.OnActivity(a.CleanDB, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) (activities.FinishResult, error) {
		f.record("cleandb")
		require.Equal(t, pipeline.PhaseCleanDB, in.Phase)
		return activities.FinishResult{Written: true, Lines: line("[terminate] done result=success")}, nil
	}).Maybe()
	f.env.OnActivity(a.RecordFailure, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) (activities.FinishResult, error) {
		f.record("failure:" + in.Reason)
		return activities.FinishResult{Written: true, Lines: line("[terminate] done result=error")}, nil
	}).Maybe()
	f.env.OnActivity(a.SetVMStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AdminInput) (activities.AdminResult, error) {
		f.record("status:" + in.Status)
		return activities.AdminResult{Lines: line("admin: vm_status set to " + in.Status)}, nil
	}).Maybe()
	answer(f, a.DeleteVMRecord, "delete-record", activities.AdminResult{}, nil)
}

func (f *fixture) stop(stopped bool, err error) {
	answer(f, a.StopVM, "stop", activities.StopResult{Stopped: stopped, ShutdownUPID: "UPID:pve1:1", Lines: line("stop request sent")}, err)
}

func (f *fixture) force(stopped bool) {
	f.env.OnActivity(a.ForceStopVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StopInput) (activities.StopResult, error) {
		f.record("force:" + in.ShutdownUPID)
		return activities.StopResult{Stopped: stopped, Lines: line("force-stop request sent")}, nil
	}).Maybe()
}

// deletes makes DeleteVM return the given errors in turn (nil = success).
func (f *fixture) deletes(errs ...error) {
	i := 0
	f.env.OnActivity(a.DeleteVM, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.VMInput) (activities.DeleteResult, error) {
		f.record("delete")
		err := errs[min(i, len(errs)-1)]
		i++
		if err != nil {
			return activities.DeleteResult{}, err
		}
		return activities.DeleteResult{Lines: line("VM deleted")}, nil
	}).Maybe()
}

func input() pipeline.Input {
	tm := pipeline.DefaultTiming()
	tm.DeleteAttempts = 1
	return pipeline.Input{ServiceID: 42, Timing: tm}
}

func running() error {
	return temporal.NewNonRetryableApplicationError("VM 2003 is running - destroy failed", pve.ClassRunning, nil)
}

// mockedFixture is a fixture with every phase mocked by mockAll. override,
// when set, mocks the phases the test changes before mockAll does (the
// first mock wins).
func mockedFixture(t *testing.T, override func(f *fixture)) *fixture {
	f := newFixture(t)
	n := 0
	if override != nil {
		override(f)
	}
	f.mockAll(t, &n)
	return f
}

// waitingFixture is a mockedFixture whose run stops the VM and then waits
// for an admin: every DELETE fails with "VM is running".
func waitingFixture(t *testing.T, override func(f *fixture)) *fixture {
	f := mockedFixture(t, override)
	f.stop(true, nil)
	f.deletes(running())
	return f
}

func (f *fixture) result(t *testing.T) pipeline.Result {
	require.True(t, f.env.IsWorkflowCompleted())
	require.NoError(t, f.env.GetWorkflowError())
	var r pipeline.Result
	require.NoError(t, f.env.GetWorkflowResult(&r))
	return r
}

// terminatedAfterStop runs a termination whose stop phase answers stopped
// and stopErr and whose force stop answers forced; it must end terminated.
func terminatedAfterStop(t *testing.T, stopped bool, stopErr error, forced bool) *fixture {
	f := mockedFixture(t, nil)
	f.stop(stopped, stopErr)
	f.force(forced)
	f.deletes(nil)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "terminated", f.result(t).Outcome)
	return f
}

func TestGracefulStopThenSuccess(t *testing.T) {
	f := terminatedAfterStop(t, true, nil, true)
	require.Equal(t, []string{"load", "stop", "backups", "dns", "delete", "cleandb"}, f.calls)
}

func TestStillRunningAfterGracefulWindowForcesStop(t *testing.T) {
	f := terminatedAfterStop(t, false, nil, true)
	require.Equal(t, []string{"load", "stop", "force:UPID:pve1:1", "backups", "dns", "delete", "cleandb"}, f.calls)
}

func TestStopPhaseErrorIsNotFatal(t *testing.T) {
	f := terminatedAfterStop(t, false, temporal.NewNonRetryableApplicationError("node unreachable", pve.ClassNodeUnreachable, nil), false)
	require.Contains(t, f.calls, "force:")
	require.Contains(t, f.calls, "cleandb")
}

func TestBestEffortPhasesNeverBlock(t *testing.T) {
	f := newFixture(t)
	n := 0
	f.env.OnActivity(a.RemoveBackups, mock.Anything, mock.Anything).Return(activities.BackupsResult{}, errors.New("storage exploded"))
	f.env.OnActivity(a.DeleteDNS, mock.Anything, mock.Anything).Return(activities.DNSResult{}, errors.New("all providers down"))
	var fin activities.FinishInput
	f.env.OnActivity(a.CleanDB, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) (activities.FinishResult, error) {
		fin = in
		return activities.FinishResult{Written: true}, nil
	})
	f.mockAll(t, &n)
	f.stop(true, nil)
	f.deletes(nil)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "terminated", f.result(t).Outcome)
	joined := strings.Join(fin.Errors, "\n")
	require.Contains(t, joined, "backup phase failed: storage exploded")
	require.Contains(t, joined, "DNS phase failed: all providers down")
}

func TestDeleteFailureWaitsThenRetrySucceeds(t *testing.T) {
	f := mockedFixture(t, nil)
	f.stop(false, nil)
	f.force(false)
	f.deletes(running(), nil)
	f.env.RegisterDelayedCallback(func() {
		var st pipeline.Status
		v, err := f.env.QueryWorkflow(pipeline.QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&st))
		require.Equal(t, pipeline.PhaseWaiting, st.Phase)
		require.Equal(t, "error_terminate", st.VMStatus)
		require.Equal(t, "VM 2003 is running - destroy failed", st.LastError)
		f.env.SignalWorkflow(pipeline.SignalReset, "terminate")
	}, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	r := f.result(t)
	require.Equal(t, "terminated", r.Outcome)
	require.Equal(t, 2, r.Attempts)
	require.Equal(t, []string{
		"load", "stop", "force:UPID:pve1:1", "backups", "dns", "delete", "failure:VM 2003 is running - destroy failed",
		"status:terminate",
		"load", "stop", "force:UPID:pve1:1", "backups", "dns", "delete", "cleandb",
	}, f.calls)
}

func TestAdminTargetsEndTheRun(t *testing.T) {
	for _, tc := range []struct{ target, outcome string }{
		{"remove", "removed"}, {"ready", "reset:ready"}, {"creation", "reset:creation"},
		{"set_ip", "reset:set_ip"}, {"change_package", "reset:change_package"}, {"set_dns_records", "reset:set_dns_records"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			f := waitingFixture(t, nil)
			f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, tc.target) }, time.Hour)
			f.env.ExecuteWorkflow(TerminateWorkflow, input())
			require.Equal(t, tc.outcome, f.result(t).Outcome)
			require.Equal(t, "status:"+tc.target, f.calls[len(f.calls)-1])
			require.NotContains(t, f.calls, "cleandb")
		})
	}
}

func TestBadSignalIsRejectedAndChangesNothing(t *testing.T) {
	f := waitingFixture(t, nil)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "explode") }, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		v, err := f.env.QueryWorkflow(pipeline.QueryStatus)
		require.NoError(t, err)
		var st pipeline.Status
		require.NoError(t, v.Get(&st))
		require.Equal(t, pipeline.PhaseWaiting, st.Phase)
		require.Contains(t, st.Lines[len(st.Lines)-1].Text, `rejected reset-status "explode"`)
		f.env.SignalWorkflow(pipeline.SignalDelete, nil)
	}, 2*time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "record-deleted", f.result(t).Outcome)
	for _, c := range f.calls {
		require.False(t, strings.HasPrefix(c, "status:"), "a rejected signal must change nothing, got %v", f.calls)
	}
}

func TestSignalDuringRunIsIgnored(t *testing.T) {
	f := waitingFixture(t, nil)
	// Sent while the attempt runs: it must not be applied once the run fails.
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "remove") }, 0)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "ready") }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "reset:ready", f.result(t).Outcome)
	require.NotContains(t, f.calls, "status:remove")
}

func TestLoadFailureFailsTheRun(t *testing.T) {
	f := newFixture(t)
	f.env.OnActivity(a.LoadTarget, mock.Anything, 42).Return(activities.LoadResult{},
		temporal.NewNonRetryableApplicationError("service 42 is already removed", pipeline.ErrAlreadyRemoved, nil))
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.True(t, f.env.IsWorkflowCompleted())
	require.ErrorContains(t, f.env.GetWorkflowError(), "already removed")
}

func TestBadInputIsRejected(t *testing.T) {
	f := newFixture(t)
	f.env.ExecuteWorkflow(TerminateWorkflow, pipeline.Input{ServiceID: -1})
	require.ErrorContains(t, f.env.GetWorkflowError(), "not positive")
}

func TestIdentityMismatchTouchesNothingElse(t *testing.T) {
	f := mockedFixture(t, nil)
	f.stop(false, temporal.NewNonRetryableApplicationError(`identity mismatch at pve1/2003: the record describes name "vm42", Proxmox has name "other"; touching nothing`, pipeline.ErrIdentityMismatch, nil))
	f.force(true)
	f.deletes(nil)
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "remove") }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "removed", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop",
		`failure:identity mismatch at pve1/2003: the record describes name "vm42", Proxmox has name "other"; touching nothing`,
		"status:remove"}, f.calls)
}

func TestLoadRefusalIsAFailedAttempt(t *testing.T) {
	f := mockedFixture(t, func(f *fixture) {
		f.env.OnActivity(a.LoadTarget, mock.Anything, 42).Return(activities.LoadResult{Target: target, Refusal: `proxmox server "gone" of the VM row is not configured`}, nil)
	})
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "ready") }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "reset:ready", f.result(t).Outcome)
	require.Equal(t, []string{`failure:proxmox server "gone" of the VM row is not configured`, "status:ready"}, f.calls)
}

func TestLostWorkersDoNotSpendDeleteRetries(t *testing.T) {
	f := mockedFixture(t, nil)
	f.stop(true, nil)
	f.deletes(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil), temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil), nil)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "terminated", f.result(t).Outcome)
	require.Equal(t, []string{"load", "stop", "backups", "dns", "delete", "delete", "delete", "cleandb"}, f.calls)
}

func TestDeleteTimeoutsAreBounded(t *testing.T) {
	f := mockedFixture(t, nil)
	f.stop(true, nil)
	f.deletes(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil))
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(pipeline.SignalReset, "ready") }, time.Hour)
	f.env.ExecuteWorkflow(TerminateWorkflow, input())
	require.Equal(t, "reset:ready", f.result(t).Outcome)
	deletes := 0
	for _, c := range f.calls {
		if c == "delete" {
			deletes++
		}
	}
	require.Equal(t, maxDeleteRounds, deletes)
}
