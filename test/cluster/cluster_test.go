package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// world is a stack on the real server: the simulator, MariaDB and an
// in-process worker on a task queue of its own.
type world struct {
	t   *testing.T
	env *stack.Env
	st  *stack.Stack
}

func newWorld(t *testing.T) world {
	t.Helper()
	e := stack.NewEnv(t, stack.EnvOptions{NoPDNS: true})
	return world{t: t, env: e, st: e.Start(stack.Options{})}
}

// run runs the starter binary, as the billing panel does.
func (w world) run(args ...string) (int, string, string) {
	w.t.Helper()
	code, out, errOut, err := testenv.Run(exec.Command(testenv.Binary(w.t, "starter"), append(args, "--config", w.st.ConfigPath)...))
	require.NoError(w.t, err)
	return code, out, errOut
}

func (w world) status(id int) string { return w.env.Row(id).VM.VMStatus }

// listed is what the temporal CLI lists for a visibility query: the Web
// UI's query, through the same API.
func listed(t *testing.T, query string) []string {
	t.Helper()
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	out, err := exec.Command(cli, "workflow", "list", "--address", os.Getenv(testenv.ExternalTemporalEnv),
		"--namespace", "default", "--query", query, "--output", "json").CombinedOutput()
	require.NoError(t, err, "%s", out)
	type listedRun struct {
		Execution struct {
			WorkflowID string `json:"workflowId"`
		} `json:"execution"`
		Status string `json:"status"`
	}
	var rows []listedRun
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		require.NoError(t, json.Unmarshal(trimmed, &rows), "%s", out)
	} else {
		for _, l := range bytes.Split(trimmed, []byte("\n")) {
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			var r listedRun
			require.NoError(t, json.Unmarshal(l, &r), "%s", l)
			rows = append(rows, r)
		}
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.Execution.WorkflowID+" "+strings.TrimPrefix(r.Status, "WORKFLOW_EXECUTION_STATUS_"))
	}
	return ids
}

func eventuallyListed(t *testing.T, query string, want ...string) {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		got = listed(t, query)
		return fmt.Sprint(got) == fmt.Sprint(want)
	}, 30*time.Second, 300*time.Millisecond, "query %s: want %v", query, want)
}

// A termination end to end on the real server, and the finished run in
// SQL visibility by our search attributes.
func TestTerminationOnTheRealServer(t *testing.T) {
	w := newWorld(t)
	v := w.env.SeedVM(300*time.Millisecond, nil)
	code, out, errb := w.run("terminate", "--service-id", strconv.Itoa(v.ID))
	require.Equal(t, 0, code, errb)
	require.Equal(t, "success\n", out)
	require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusRemove }, 90*time.Second, 200*time.Millisecond)
	require.False(t, w.st.Sim.VMExists(v.VMID))
	require.Empty(t, w.st.Sim.Backups(v.VMID))
	eventuallyListed(t, fmt.Sprintf(`ServiceId=%d AND VmStatus="remove" AND TerminatePhase="done"`, v.ID), pipeline.WorkflowID(v.ID)+" COMPLETED")
}

// A run that waits for an admin is found by VmStatus="error_terminate" (the
// Web UI's saved query); the admin's reset goes through a Temporal Update
// on the real server.
func TestWaitingRunsAreListedByVmStatus(t *testing.T) {
	w := newWorld(t)
	v := w.env.SeedVM(300*time.Millisecond, func(s *pvesim.VMSpec) { s.Protection = true })
	code, _, errb := w.run("terminate", "--service-id", strconv.Itoa(v.ID))
	require.Equal(t, 0, code, errb)
	require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusErrorTerminate }, 90*time.Second, 200*time.Millisecond)
	eventuallyListed(t, fmt.Sprintf(`VmStatus="error_terminate" AND ServiceId=%d`, v.ID), pipeline.WorkflowID(v.ID)+" RUNNING")

	require.NoError(t, w.st.Sim.UpdateVM(v.VMID, func(s *pvesim.VMSpec) { s.Protection = false }))
	code, out, errb := w.run("reset", "--service-id", strconv.Itoa(v.ID), "--to", "terminate")
	require.Equal(t, 0, code, errb)
	require.True(t, strings.HasPrefix(out, "success\n"), out)
	require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusRemove }, 90*time.Second, 200*time.Millisecond)
	eventuallyListed(t, fmt.Sprintf(`VmStatus="error_terminate" AND ServiceId=%d`, v.ID))
	eventuallyListed(t, fmt.Sprintf(`VmStatus="remove" AND ServiceId=%d`, v.ID), pipeline.WorkflowID(v.ID)+" COMPLETED")
}

// The re-queue Schedule on the real server: a row the billing panel reset
// to terminate, with no run, gets exactly one run.
func TestScheduleRequeuesOnTheRealServer(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	v := w.env.SeedVM(300*time.Millisecond, nil)
	require.NoError(t, w.env.Store.SetStatus(ctx, v.ID, dbmodel.StatusTerminate))

	tc := w.env.Dev.Client()
	tq := w.st.Config.Temporal.TaskQueue
	require.NoError(t, app.EnsureSchedule(ctx, tc, tq, time.Hour))
	require.NoError(t, app.EnsureSchedule(ctx, tc, tq, time.Hour), "a second worker's call is harmless")
	sched := tc.ScheduleClient().GetHandle(ctx, app.ScheduleID(tq))
	t.Cleanup(func() { _ = sched.Delete(context.Background()) })
	for range 2 {
		require.NoError(t, sched.Trigger(ctx, client.ScheduleTriggerOptions{}))
		time.Sleep(500 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusRemove }, 90*time.Second, 200*time.Millisecond)
	require.Equal(t, []string{dbmodel.SuccessText}, w.env.Activity(v.UserID))
	eventuallyListed(t, fmt.Sprintf(`WorkflowId=%q`, pipeline.WorkflowID(v.ID)), pipeline.WorkflowID(v.ID)+" COMPLETED")
}

// The undo window on the real server: the run waits in grace, found in SQL
// visibility by TerminatePhase and the GraceUntil deadline (a Datetime
// attribute); a restore by Update ends it with the VM running again.
func TestUndoWindowOnTheRealServer(t *testing.T) {
	e := stack.NewEnv(t, stack.EnvOptions{NoPDNS: true})
	tm := stack.FastTiming()
	tm.DestroyDelay = time.Hour
	w := world{t: t, env: e, st: e.Start(stack.Options{Timing: tm})}
	v := w.env.SeedVM(300*time.Millisecond, nil)
	code, _, errb := w.run("terminate", "--service-id", strconv.Itoa(v.ID))
	require.Equal(t, 0, code, errb)
	require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusGrace }, 90*time.Second, 200*time.Millisecond)
	soon, later := time.Now().UTC().Add(50*time.Minute), time.Now().UTC().Add(70*time.Minute)
	eventuallyListed(t, fmt.Sprintf(`ServiceId=%d AND TerminatePhase="grace" AND GraceUntil > "%s" AND GraceUntil < "%s"`,
		v.ID, soon.Format(time.RFC3339), later.Format(time.RFC3339)), pipeline.WorkflowID(v.ID)+" RUNNING")
	eventuallyListed(t, fmt.Sprintf(`ServiceId=%d AND GraceUntil < "%s"`, v.ID, soon.Format(time.RFC3339)))
	require.True(t, w.st.Sim.VMExists(v.VMID))
	require.NotEmpty(t, w.st.Sim.Backups(v.VMID), "nothing is destroyed in the window")

	code, out, errb := w.run("restore", "--service-id", strconv.Itoa(v.ID))
	require.Equal(t, 0, code, "%s%s", out, errb)
	require.True(t, strings.HasPrefix(out, "success\n"), out)
	require.Eventually(t, func() bool { return w.status(v.ID) == "ready" }, 30*time.Second, 200*time.Millisecond)
	vm, ok := w.st.Sim.VM("pve1", v.VMID)
	require.True(t, ok)
	require.Equal(t, "running", vm.Status)
	eventuallyListed(t, fmt.Sprintf(`ServiceId=%d AND ExecutionStatus="Completed"`, v.ID), pipeline.WorkflowID(v.ID)+" COMPLETED")
}
