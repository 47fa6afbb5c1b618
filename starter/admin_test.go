package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// queryReceived is the stand-in run's record of the admin Updates it accepted.
const queryReceived = "test-received"

// waitingRun stands in for TerminateWorkflow waiting in error_terminate,
// with the admin Update contract of pipeline/admin.go: the same names, a
// validator that accepts a waiting run and a target of AdminTargets only,
// and an AdminReply once it has acted. A reset to terminate starts attempt
// 2 (the run then stops waiting); any other action ends the run.
func waitingRun(ctx workflow.Context, in pipeline.Input) (pipeline.Result, error) {
	waiting, done := true, false
	var received []string
	phase := func(p string) {
		_ = workflow.UpsertTypedSearchAttributes(ctx, pipeline.SAPhase.ValueSet(p))
	}
	if err := workflow.SetQueryHandler(ctx, pipeline.QueryStatus, func() (pipeline.Status, error) {
		st := pipeline.Status{ServiceID: in.ServiceID, Phase: pipeline.PhaseWaiting, VMStatus: dbmodel.StatusErrorTerminate, Attempt: 1}
		if !waiting {
			st.Phase, st.VMStatus, st.Attempt = pipeline.PhaseStop, dbmodel.StatusTerminate, 2
		}
		return st, nil
	}); err != nil {
		return pipeline.Result{}, err
	}
	if err := workflow.SetQueryHandler(ctx, queryReceived, func() ([]string, error) { return received, nil }); err != nil {
		return pipeline.Result{}, err
	}
	notWaiting := errors.New("the termination is running (phase stop); admin actions apply only to a run waiting in error_terminate")
	if err := workflow.SetUpdateHandlerWithOptions(ctx, pipeline.UpdateResetStatus,
		func(ctx workflow.Context, target string) (pipeline.AdminReply, error) {
			received = append(received, "reset-status "+target)
			if target == dbmodel.StatusTerminate {
				waiting = false
				phase(pipeline.PhaseStop)
				return pipeline.AdminReply{VMStatus: target, Attempt: 2, Line: "admin: reset-status terminate: attempt 2"}, nil
			}
			done = true
			return pipeline.AdminReply{VMStatus: target, Line: "admin: reset-status " + target}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(target string) error {
			if !waiting {
				return notWaiting
			}
			if !slices.Contains(dbmodel.AdminTargets, target) {
				return fmt.Errorf("reset-status %q: expected one of %s; nothing changed", target, strings.Join(dbmodel.AdminTargets, ", "))
			}
			return nil
		}}); err != nil {
		return pipeline.Result{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, pipeline.UpdateDeleteRecord,
		func(ctx workflow.Context) (pipeline.AdminReply, error) {
			received = append(received, "delete-record")
			done = true
			return pipeline.AdminReply{Line: "admin: VM record deleted"}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func() error {
			if !waiting {
				return notWaiting
			}
			return nil
		}}); err != nil {
		return pipeline.Result{}, err
	}
	if err := workflow.Await(ctx, func() bool { return done }); err != nil {
		return pipeline.Result{}, err
	}
	return pipeline.Result{ServiceID: in.ServiceID, Outcome: "admin"}, nil
}

// startWaitingRun seeds a service whose run waits in error_terminate, served
// by waitingRun on a task queue of its own.
func (h *harness) startWaitingRun() vm {
	h.t.Helper()
	tc := testenv.DevServer(h.t).Client()
	tq := fmt.Sprintf("pt-waiting-%d", nextID.Add(1))
	w := worker.New(tc, tq, worker.Options{})
	w.RegisterWorkflowWithOptions(waitingRun, workflow.RegisterOptions{Name: pipeline.WorkflowName})
	require.NoError(h.t, w.Start())
	h.t.Cleanup(w.Stop)
	v := h.seed(0)
	require.NoError(h.t, h.store.SetStatus(context.Background(), v.id, dbmodel.StatusErrorTerminate))
	_, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: pipeline.WorkflowID(v.id), TaskQueue: tq,
		TypedSearchAttributes: temporal.NewSearchAttributes(pipeline.SAPhase.ValueSet(pipeline.PhaseWaiting),
			pipeline.SAVmStatus.ValueSet(dbmodel.StatusErrorTerminate)),
	}, pipeline.WorkflowName, pipeline.Input{ServiceID: v.id})
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), pipeline.WorkflowID(v.id), "", "test over") })
	return v
}

// received is what the stand-in run accepted.
func (h *harness) received(v vm) []string {
	h.t.Helper()
	q, err := testenv.DevServer(h.t).Client().QueryWorkflow(context.Background(), pipeline.WorkflowID(v.id), "", queryReceived)
	require.NoError(h.t, err)
	var got []string
	require.NoError(h.t, q.Get(&got))
	return got
}

// reset and delete-record answer with the run's reply, or with its
// validator's reason as the one error line (exit 1, nothing changed).
func TestAdminUpdatesAnswerSynchronously(t *testing.T) {
	h := newHarness(t)

	t.Run("reset accepted", func(t *testing.T) {
		h := &harness{t: t, st: h.st, store: h.store, pdns: h.pdns, out: h.out}
		v := h.startWaitingRun()
		code, out, errOut := h.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", "ready")
		require.Equal(t, exitOK, code, errOut)
		require.Empty(t, errOut)
		require.Equal(t, "success\nvm_status=ready: admin: reset-status ready\n", out)
		require.Equal(t, []string{"reset-status ready"}, h.received(v))
	})

	t.Run("delete-record accepted", func(t *testing.T) {
		h := &harness{t: t, st: h.st, store: h.store, pdns: h.pdns, out: h.out}
		v := h.startWaitingRun()
		code, out, errOut := h.starter("delete-record", "--service-id", fmt.Sprint(v.id))
		require.Equal(t, exitOK, code, errOut)
		require.Equal(t, "success\nvm_status=(record deleted): admin: VM record deleted\n", out)
		require.Equal(t, []string{"delete-record"}, h.received(v))
	})

	t.Run("rejected by the validator", func(t *testing.T) {
		h := &harness{t: t, st: h.st, store: h.store, pdns: h.pdns, out: h.out}
		v := h.startWaitingRun()
		code, out, errOut := h.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", "terminate")
		require.Equal(t, exitOK, code, errOut)
		require.Equal(t, "success\nvm_status=terminate attempt=2: admin: reset-status terminate: attempt 2\n", out)
		// The run no longer waits: its validator refuses, with its reason.
		for _, args := range [][]string{
			{"reset", "--service-id", fmt.Sprint(v.id), "--to", "remove"},
			{"delete-record", "--service-id", fmt.Sprint(v.id)},
		} {
			code, out, errOut = h.starter(args...)
			require.Equal(t, exitError, code, args)
			require.Empty(t, out, args)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			require.Contains(t, errOut, "error: service "+fmt.Sprint(v.id)+": the run rejected admin-")
			require.Contains(t, errOut, "the termination is running (phase stop); admin actions apply only to a run waiting in error_terminate")
		}
		require.Equal(t, []string{"reset-status terminate"}, h.received(v))
	})
}

// A Terminate click on a run waiting in error_terminate re-queues the
// termination through the reset-status Update (the admin asked again); a
// click while that attempt runs attaches to it.
func TestTerminateClickOnAWaitingRunRequeues(t *testing.T) {
	h := newHarness(t)
	v := h.startWaitingRun()
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "success\nvm_status=terminate attempt=2: admin: reset-status terminate: attempt 2\n", out)
	require.Equal(t, []string{"reset-status terminate"}, h.received(v))
	// The workflow's stop phase sends the shutdown, not the click.
	require.Zero(t, h.shutdowns(v.vmid))

	code, out, errOut = h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "success\n", out)
	require.Equal(t, []string{"reset-status terminate"}, h.received(v))
}

// A click on a waiting run whose Proxmox token is refused is an error and
// re-queues nothing.
func TestTerminateClickOnAWaitingRunWithARefusedToken(t *testing.T) {
	h := newHarness(t)
	v := h.startWaitingRun()
	h.st.Sim.SetFault(pvesim.Fault{Kind: pvesim.FaultTokenExpired})
	t.Cleanup(h.st.Sim.ClearFaults)
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitError, code, out)
	require.Contains(t, errOut, "refused the API token")
	require.Empty(t, h.received(v))
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(v.id).VM.VMStatus)
}
