package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/internal/shortlived"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// The test binary runs many commands in-process: it keeps the collector
// the starter's own process turns off (internal/shortlived).
func TestMain(m *testing.M) {
	shortlived.Restore()
	testenv.Main(m)
}

// Service ids are unique across the package: every test shares one dev server.
var nextID = stack.IDs

// harness is one stack of the shared integration environment (stack.Env)
// with the starter run in-process.
type harness struct {
	t     *testing.T
	st    *stack.Stack
	store *dbmodel.Store
	pdns  *pdnstest.Server
	out   *syncBuffer
	env   *stack.Env
}

func newHarness(t *testing.T, extraDNS ...dns.ProviderConfig) *harness {
	t.Helper()
	e := stack.NewEnv(t, stack.EnvOptions{})
	st := e.Start(stack.Options{DNS: append(extraDNS, e.PDNS.Config("powerdns"))})
	return &harness{t: t, st: st, store: e.Store, pdns: e.PDNS, out: e.Out, env: e}
}

// syncBuffer is the worker's output: written by activities, read by tests.
type syncBuffer = testenv.Buffer

// vm is a seeded service with a running VM, backups and DNS records.
type vm struct {
	id, userID, vmid int
	fqdn, ip4, ip6   string
}

// environment is the harness's stack.Env, also for harnesses a test
// assembles from another's fields.
func (h *harness) environment() *stack.Env {
	if h.env == nil || h.env.T != h.t {
		h.env = &stack.Env{T: h.t, Store: h.store, PDNS: h.pdns, Out: h.out, Stack: h.st}
	}
	return h.env
}

func (h *harness) seed(shutdown time.Duration) vm {
	h.t.Helper()
	e := h.environment()
	v := e.SeedVM(shutdown, nil)
	e.SeedRecords(v, true)
	return vm{id: v.ID, userID: v.UserID, vmid: v.VMID, fqdn: v.FQDN, ip4: v.IP4, ip6: v.IP6}
}

// starter runs the starter in-process, as the billing panel would run the binary.
func (h *harness) starter(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append(args, "--config", h.st.ConfigPath), &out, &errb)
	return code, out.String(), errb.String()
}

// seedWaiting seeds a VM, changes its spec with update and runs a followed
// terminate that must end waiting for an admin; out is what it printed.
func (h *harness) seedWaiting(update func(*pvesim.VMSpec)) (vm, string) {
	h.t.Helper()
	v := h.seed(time.Second)
	require.NoError(h.t, h.st.Sim.UpdateVM(v.vmid, update))
	code, out := h.terminateFollow(v)
	require.Equal(h.t, exitWaiting, code, out)
	return v, out
}

// protect turns on a VM's protection: Proxmox refuses its DELETE.
func protect(s *pvesim.VMSpec) { s.Protection = true }

// hang makes a VM's guest hang: it fails the shutdown and survives SIGKILL.
func hang(s *pvesim.VMSpec) { s.Hang = true }

func (h *harness) terminateFollow(v vm) (int, string) {
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id), "--follow")
	require.Empty(h.t, errOut)
	require.True(h.t, strings.HasPrefix(out, "success\n"), out)
	return code, out
}

func (h *harness) row(id int) dbmodel.Service {
	h.t.Helper()
	return h.environment().Row(id)
}

func (h *harness) activity(v vm) []string {
	h.t.Helper()
	return h.environment().Activity(v.userID)
}

func (h *harness) records(zone string) string {
	h.t.Helper()
	return h.environment().Records(zone)
}

func TestTerminateEndToEnd(t *testing.T) {
	h := newHarness(t)
	// The guest needs 2.5s, well past the first progress line (0.75s) even
	// when the starter's shutdown got a head start.
	v := h.seed(2500 * time.Millisecond)

	code, out := h.terminateFollow(v)
	require.Equal(t, exitOK, code, out)
	for _, want := range []string{
		"[terminate] starting", fmt.Sprintf("remote status: running, vmid: %d", v.vmid), "stop request sent",
		"still running, waited", "stopped after ~", "removing backups", "backups removed (2 deleted)",
		"deleting DNS records",
		fmt.Sprintf("rev-del OK [powerdns] 2.0.192.in-addr.arpa ← %s", v.ip4),
		fmt.Sprintf("rev-del OK [powerdns] 8.b.d.0.1.0.0.2.ip6.arpa ← %s", v.ip6),
		fmt.Sprintf("fwd-del OK [powerdns] example.com ← %s", v.fqdn),
		fmt.Sprintf("DELETE VM vmid=%d node=pve1 purge=1", v.vmid), "VM deleted", "result=success",
	} {
		require.Contains(t, out, want)
	}

	// Proxmox: the VM and its backups are gone.
	require.False(t, h.st.Sim.VMExists(v.vmid))
	require.Empty(t, h.st.Sim.Backups(v.vmid))
	// DNS: our records are gone, the neighbour's stays.
	require.NotContains(t, h.records("example.com."), v.fqdn)
	require.Contains(t, h.records("example.com."), "keep.example.com.")
	require.NotContains(t, h.records("2.0.192.in-addr.arpa."), v.fqdn)

	// Database, exactly.
	svc := h.row(v.id)
	require.Equal(t, "", svc.Hosting.DedicatedIP)
	require.Equal(t, "", svc.Hosting.AssignedIPs)
	require.Equal(t, "", svc.Hosting.Domain)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
	require.Equal(t, 0, svc.VM.VMID)
	require.Equal(t, "", svc.VM.Node)
	require.Equal(t, "", svc.VM.VMName)
	require.Equal(t, "", svc.VM.Server)
	require.Equal(t, 1, svc.VM.TerminateAttempts)
	require.Equal(t, []string{dbmodel.SuccessText}, h.activity(v))
	logs, err := h.store.ActionLogs(context.Background(), v.id)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "success", logs[0].Result)
	require.Contains(t, logs[0].Lines, "VM deleted")

	// Module log: every Proxmox and DNS call, never a secret.
	h.environment().ModuleLogWritten()
	mods, err := h.store.ModuleLogs(context.Background())
	require.NoError(t, err)
	var pveCalls, dnsCalls int
	for _, m := range mods {
		if strings.HasPrefix(m.Action, "proxmox ") {
			pveCalls++
		}
		if strings.HasPrefix(m.Action, "dns ") {
			dnsCalls++
		}
		for _, s := range []string{m.Action, m.Request, m.Response, m.ArrData} {
			require.NotContains(t, s, stack.TokenSecret)
			require.NotContains(t, s, h.pdns.APIKey)
		}
	}
	require.Greater(t, pveCalls, 5)
	require.Greater(t, dnsCalls, 2)
	// The worker printed the same lines live.
	require.Contains(t, h.out.String(), fmt.Sprintf("[service %d] VM deleted", v.id))

	recordHistory(t, v.id, "history-v1-click-success")

	// A second terminate of a removed service is refused and writes nothing.
	code, _, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "already removed")
	require.Len(t, h.activity(v), 1)
}

// A hung guest cannot be stopped: the vendor expects purge=1 to reap it, but
// Proxmox refuses to destroy a running VM, so the run ends in
// error_terminate with Proxmox's reason and the IPs kept.
func TestHungVMEndsInErrorTerminate(t *testing.T) {
	h := newHarness(t)
	v, out := h.seedWaiting(hang)
	reason := fmt.Sprintf("VM %d is running - destroy failed", v.vmid)
	require.Contains(t, out, "force-stop request sent")
	require.Contains(t, out, "termination FAILED in phase delete: "+reason)
	require.Contains(t, out, "result=error")
	svc := h.row(v.id)
	require.Equal(t, dbmodel.StatusErrorTerminate, svc.VM.VMStatus)
	require.Equal(t, reason, svc.VM.LastError)
	require.Equal(t, v.ip4, svc.Hosting.DedicatedIP)
	require.Equal(t, []string{dbmodel.FailurePref + reason}, h.activity(v))
	require.True(t, h.st.Sim.VMExists(v.vmid))
}

// Proxmox refuses the DELETE (protection): the run ends in error_terminate
// with everything kept and one log entry; the admin lifts the protection and
// re-queues, and the second attempt succeeds with its own single entry.
func TestDeleteFailureKeepsIPsAndRetrySucceeds(t *testing.T) {
	h := newHarness(t)
	v, out := h.seedWaiting(protect)
	reason := fmt.Sprintf("can't remove VM %d - protection mode enabled", v.vmid)
	require.Contains(t, out, "stopped after ~")
	require.Contains(t, out, "result=error")

	svc := h.row(v.id)
	require.Equal(t, dbmodel.StatusErrorTerminate, svc.VM.VMStatus)
	require.Equal(t, v.ip4, svc.Hosting.DedicatedIP)
	require.Equal(t, v.ip6+"\n", svc.Hosting.AssignedIPs)
	require.Equal(t, v.fqdn, svc.Hosting.Domain)
	require.Equal(t, v.vmid, svc.VM.VMID)
	require.Equal(t, "pve1", svc.VM.Node)
	require.Equal(t, reason, svc.VM.LastError)
	require.Equal(t, []string{dbmodel.FailurePref + reason}, h.activity(v))
	require.True(t, h.st.Sim.VMExists(v.vmid))
	logs, err := h.store.ActionLogs(context.Background(), v.id)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "error", logs[0].Result)
	require.Equal(t, pipeline.PhaseDelete, logs[0].Phase)
	require.Contains(t, logs[0].Errors, reason)

	// The Web UI's list of runs waiting for an admin finds it.
	tc := testenv.DevServer(t).Client()
	require.Eventually(t, func() bool {
		resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`VmStatus="error_terminate" AND ServiceId=%d AND TerminatePhase="waiting-for-admin"`, v.id)})
		return err == nil && len(resp.Executions) == 1
	}, 15*time.Second, 200*time.Millisecond)

	// status shows it waiting.
	code, st, _ := h.starter("status", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code)
	require.Contains(t, st, "phase=waiting-for-admin vm_status=error_terminate attempt=1")
	require.Contains(t, st, "last error: "+reason)

	// A bad target is refused by the starter and changes nothing.
	code, _, errOut := h.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", "explode")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `--to "explode" is not one of`)
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(v.id).VM.VMStatus)
	// So is a bad value sent straight to the workflow (temporal workflow signal).
	require.NoError(t, tc.SignalWorkflow(context.Background(), pipeline.WorkflowID(v.id), "", pipeline.SignalReset, "explode"))
	require.Eventually(t, func() bool {
		_, st, _ := h.starter("status", "--service-id", fmt.Sprint(v.id))
		return strings.Contains(st, `admin: rejected reset-status "explode"`)
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(v.id).VM.VMStatus)
	require.Len(t, h.activity(v), 1)

	// The admin lifts the protection and re-queues.
	require.NoError(t, h.st.Sim.UpdateVM(v.vmid, func(s *pvesim.VMSpec) { s.Protection = false }))
	code, out, errOut = h.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", "terminate")
	require.Equal(t, exitOK, code, errOut)
	require.True(t, strings.HasPrefix(out, "success\nvm_status=terminate attempt=2"), out)
	code, out, _ = h.starter("status", "--service-id", fmt.Sprint(v.id), "--follow")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "[terminate] starting (attempt 2")

	svc = h.row(v.id)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
	require.Equal(t, "", svc.Hosting.DedicatedIP)
	require.Equal(t, "", svc.Hosting.AssignedIPs)
	require.Equal(t, "", svc.Hosting.Domain)
	require.Equal(t, 2, svc.VM.TerminateAttempts)
	require.Equal(t, []string{dbmodel.FailurePref + reason, dbmodel.SuccessText}, h.activity(v))
	require.False(t, h.st.Sim.VMExists(v.vmid))
	logs, err = h.store.ActionLogs(context.Background(), v.id)
	require.NoError(t, err)
	require.Len(t, logs, 2)
	require.Equal(t, "success", logs[1].Result)
	recordHistory(t, v.id, "history-v1-click-failure-retry")
}

// Each admin target after a failure, end to end through the starter.
func TestAdminTargets(t *testing.T) {
	h := newHarness(t)
	for _, target := range []string{"remove", "ready", "creation", "set_ip", "change_package", "set_dns_records", "delete-record"} {
		t.Run(target, func(t *testing.T) {
			h := &harness{t: t, st: h.st, store: h.store, pdns: h.pdns, out: h.out}
			v, _ := h.seedWaiting(protect)
			require.Contains(t, h.row(v.id).VM.LastError, "protection mode enabled")

			var code int
			var errOut string
			if target == "delete-record" {
				code, _, errOut = h.starter("delete-record", "--service-id", fmt.Sprint(v.id))
			} else {
				code, _, errOut = h.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", target)
			}
			require.Equal(t, exitOK, code, errOut)
			require.Eventually(t, func() bool {
				d, err := h.st.Deps.Store.LoadService(context.Background(), v.id)
				if target == "delete-record" {
					return err != nil && strings.Contains(err.Error(), "no VM row")
				}
				return err == nil && d.VM.VMStatus == target
			}, 10*time.Second, 50*time.Millisecond)
			// Nothing else changed: Proxmox untouched, IPs kept, one log entry.
			require.True(t, h.st.Sim.VMExists(v.vmid))
			var hosting dbmodel.Hosting
			require.NoError(t, h.store.DB().Where("id = ?", v.id).Take(&hosting).Error)
			require.Equal(t, v.ip4, hosting.DedicatedIP)
			require.Len(t, h.activity(v), 1)
		})
	}
}

func TestSecondClickAttachesToTheRunningTermination(t *testing.T) {
	h := newHarness(t)
	v := h.seed(2 * time.Second)
	code, out, errOut := h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "success\n", out)
	code, out, errOut = h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "success\n", out)
	code, out, _ = h.starter("status", "--service-id", fmt.Sprint(v.id), "--follow")
	require.Equal(t, exitOK, code, out)
	require.Equal(t, 1, strings.Count(out, "[terminate] starting"), out)
	require.Equal(t, []string{dbmodel.SuccessText}, h.activity(v))
	var shutdowns int
	for _, r := range h.st.Sim.Requests() {
		if r.Route == "/nodes/{node}/qemu/{vmid}/status/shutdown" && strings.Contains(r.Path, fmt.Sprintf("/%d/", v.vmid)) {
			shutdowns++
		}
	}
	require.Equal(t, 2, shutdowns, "one fire-and-forget shutdown from the first click and one from the stop phase; none from the second click")
}

func TestStarterRefusesBadInputAndWritesNothing(t *testing.T) {
	h := newHarness(t)
	v := h.seed(time.Second)
	noVM := int(nextID.Add(1))
	require.NoError(t, stack.Seed(context.Background(), h.store, stack.Service{ID: noVM, UserID: 1, Domain: "x.example.com", VMID: 1, Node: "pve1"}))
	require.NoError(t, h.store.DeleteRecord(context.Background(), noVM))
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"terminate"}, exitUsage, "--service-id is required"},
		{[]string{"terminate", "--service-id", "abc"}, exitUsage, "not a positive integer"},
		{[]string{"terminate", "--service-id", "-5"}, exitUsage, "not a positive integer"},
		{[]string{"terminate", "--service-id", "0"}, exitUsage, "not a positive integer"},
		{[]string{"terminate", "--service-id", "99999999999999"}, exitUsage, "below 2147483648"},
		{[]string{"terminate", "--service-id", "1.5"}, exitUsage, "not a positive integer"},
		{[]string{"terminate", "--service-id", "999999999"}, exitError, "does not exist in tblhosting"},
		{[]string{"terminate", "--service-id", fmt.Sprint(noVM)}, exitError, "has no VM row"},
		{[]string{"explode", "--service-id", "1"}, exitUsage, "unknown command"},
		{[]string{"terminate", "--service-id", "1", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"reset", "--service-id", fmt.Sprint(v.id)}, exitUsage, "reset needs --to"},
		{[]string{"reset", "--service-id", fmt.Sprint(v.id), "--to", "ready"}, exitError, "applies only to error_terminate"},
		{[]string{"delete-record", "--service-id", fmt.Sprint(v.id)}, exitError, "applies only to error_terminate or remove"},
		{[]string{"terminate", "--service-id", fmt.Sprint(v.id), "--to", "ready"}, exitUsage, "--to is only for reset"},
	} {
		code, out, errOut := h.starter(tc.args...)
		require.Equal(t, tc.code, code, "%v: %s %s", tc.args, out, errOut)
		require.Empty(t, out, tc.args)
		require.Contains(t, errOut, tc.msg, tc.args)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(strings.Split(errOut, "\nusage:")[0]), "\n")+1, "one line: %q", errOut)
	}
	// Nothing was written: the VM row is untouched and Proxmox saw no shutdown.
	require.Equal(t, "ready", h.row(v.id).VM.VMStatus)
	require.Empty(t, h.activity(v))
	for _, r := range h.st.Sim.Requests() {
		require.NotEqual(t, "/nodes/{node}/qemu/{vmid}/status/shutdown", r.Route)
	}
}

func TestWorkerRefusesANamespaceWithoutSearchAttributes(t *testing.T) {
	dev := testenv.DevServer(t)
	ctx := context.Background()
	require.NoError(t, app.CheckSearchAttributes(ctx, dev.Client(), "default"))
	ns := fmt.Sprintf("nosa-%d", nextID.Add(1))
	_, err := dev.Client().WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	require.NoError(t, err)
	err = app.CheckSearchAttributes(ctx, dev.Client(), ns)
	require.ErrorContains(t, err, "temporal operator search-attribute create --namespace "+ns+" --name VmStatus --type Keyword")
}

func TestPlanChangesNothing(t *testing.T) {
	h := newHarness(t)
	v := h.seed(time.Second)
	mods, err := h.store.ModuleLogs(context.Background())
	require.NoError(t, err)
	before := len(h.st.Sim.Requests())
	code, out, errOut := h.starter("plan", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitOK, code, errOut)
	for _, want := range []string{
		fmt.Sprintf("proxmox: VM %d %q on pve-sim/pve1, running; identity matches the record", v.vmid, v.fqdn),
		"stop: graceful shutdown, poll every", "backup: delete local:backup/vzdump-qemu-",
		"backup: delete pbs:backup/vm/", fmt.Sprintf("delete: DELETE /nodes/pve1/qemu/%d?purge=1", v.vmid),
		fmt.Sprintf("dns: fwd-del PLAN [powerdns] example.com ← %s", v.fqdn),
		fmt.Sprintf("dns: rev-del PLAN [powerdns] 2.0.192.in-addr.arpa ← %s", v.ip4),
		fmt.Sprintf("tblhosting.dedicatedip %q -> \"\"", v.ip4),
	} {
		require.Contains(t, out, want)
	}
	// Nothing changed anywhere: Proxmox saw only reads, DNS and DB are intact.
	for _, r := range h.st.Sim.Requests()[before:] {
		require.Equal(t, "GET", r.Method, r.Path)
	}
	require.Len(t, h.st.Sim.Backups(v.vmid), 2)
	require.Contains(t, h.records("example.com."), v.fqdn)
	require.Equal(t, "ready", h.row(v.id).VM.VMStatus)
	after, err := h.store.ModuleLogs(context.Background())
	require.NoError(t, err)
	require.Len(t, after, len(mods))

	// A VM that is not the record's: the plan says it would be refused.
	require.NoError(t, h.st.Sim.UpdateVM(v.vmid, func(s *pvesim.VMSpec) { s.Name = "someone-else" }))
	_, out, _ = h.starter("plan", "--service-id", fmt.Sprint(v.id))
	require.Contains(t, out, "REFUSED — identity mismatch")
	// And the click is refused before anything is written.
	code, _, errOut = h.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `Proxmox has name "someone-else"`)
	require.Equal(t, "ready", h.row(v.id).VM.VMStatus)
}

// The vendor's admin UI re-queues by writing vm_status='terminate' in the
// database. The reconcile schedule picks that up exactly once: a waiting run
// gets one reset-status, a row without a run gets one run, and a row left in
// error_terminate is never touched (no second activity-log entry).
func TestScheduleReconcilesDatabaseRequeues(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	waiting := h.seed(time.Second)
	require.NoError(t, h.st.Sim.UpdateVM(waiting.vmid, func(s *pvesim.VMSpec) { s.Protection = true }))
	code, out := h.terminateFollow(waiting)
	require.Equal(t, exitWaiting, code, out)
	untouched := h.seed(time.Second)
	require.NoError(t, h.st.Sim.UpdateVM(untouched.vmid, func(s *pvesim.VMSpec) { s.Protection = true }))
	code, out = h.terminateFollow(untouched)
	require.Equal(t, exitWaiting, code, out)
	norun := h.seed(time.Second)

	// The billing panel's writes.
	require.NoError(t, h.st.Sim.UpdateVM(waiting.vmid, func(s *pvesim.VMSpec) { s.Protection = false }))
	require.NoError(t, h.store.SetStatus(ctx, waiting.id, dbmodel.StatusTerminate))
	require.NoError(t, h.store.SetStatus(ctx, norun.id, dbmodel.StatusTerminate))

	tc := testenv.DevServer(t).Client()
	tq := h.st.Config.Temporal.TaskQueue
	require.NoError(t, app.EnsureSchedule(ctx, tc, tq, time.Hour))
	require.NoError(t, app.EnsureSchedule(ctx, tc, tq, time.Hour), "a second worker's call is harmless")
	sched := tc.ScheduleClient().GetHandle(ctx, app.ScheduleID(tq))
	t.Cleanup(func() { _ = sched.Delete(context.Background()) })
	for i := 0; i < 3; i++ { // several passes: still exactly one effect each
		require.NoError(t, sched.Trigger(ctx, client.ScheduleTriggerOptions{}))
		time.Sleep(300 * time.Millisecond)
	}
	for _, v := range []vm{waiting, norun} {
		require.Eventually(t, func() bool { return h.row(v.id).VM.VMStatus == dbmodel.StatusRemove }, 30*time.Second, 100*time.Millisecond)
		require.False(t, h.st.Sim.VMExists(v.vmid))
	}
	require.Equal(t, []string{dbmodel.FailurePref + fmt.Sprintf("can't remove VM %d - protection mode enabled", waiting.vmid), dbmodel.SuccessText}, h.activity(waiting))
	require.Equal(t, []string{dbmodel.SuccessText}, h.activity(norun))
	require.Equal(t, 2, h.row(waiting.id).VM.TerminateAttempts)
	// The row nobody reset stays as it was, with its single entry.
	require.Equal(t, dbmodel.StatusErrorTerminate, h.row(untouched.id).VM.VMStatus)
	require.Len(t, h.activity(untouched), 1)
	// One run for the row that had none.
	require.Eventually(t, func() bool {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId=%q", pipeline.WorkflowID(norun.id))})
		return err == nil && len(resp.Executions) == 1
	}, 10*time.Second, 100*time.Millisecond)
}

// --follow streams the running phase's progress from its heartbeat: the
// "still running" lines appear while the guest is still up, not at the end.
func TestFollowStreamsHeartbeatLines(t *testing.T) {
	h := newHarness(t)
	v := h.seed(4 * time.Second)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run([]string{"terminate", "--service-id", fmt.Sprint(v.id), "--follow", "--config", h.st.ConfigPath}, pw, io.Discard)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	var sawLive bool
	for sc.Scan() {
		if strings.Contains(sc.Text(), "still running, waited") {
			vmState, ok := h.st.Sim.VM("pve1", v.vmid)
			if ok && vmState.Status == "running" {
				sawLive = true
			}
		}
	}
	require.Equal(t, exitOK, <-done)
	require.True(t, sawLive, "a progress line must arrive while the guest is still running")
}

// One DNS provider is down while another holds the same zones: the
// termination succeeds, and the lines show the failure and the successes.
func TestDNSProviderDownNeverBlocksTermination(t *testing.T) {
	dead := "http://" + testenv.Addr(t) // nothing listens there
	h := newHarness(t, dns.ProviderConfig{Kind: "powerdns", Name: "pdns-down", URL: dead, APIKey: "down-key-123", Timeout: time.Second})
	v := h.seed(time.Second)
	code, out := h.terminateFollow(v)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "FAIL [pdns-down]")
	require.Contains(t, out, fmt.Sprintf("fwd-del OK [powerdns] example.com ← %s", v.fqdn))
	require.Contains(t, out, fmt.Sprintf("rev-del OK [powerdns] 2.0.192.in-addr.arpa ← %s", v.ip4))
	require.Contains(t, out, "result=success")
	require.NotContains(t, out, "down-key-123")
	require.Equal(t, dbmodel.StatusRemove, h.row(v.id).VM.VMStatus)
	logs, err := h.store.ActionLogs(context.Background(), v.id)
	require.NoError(t, err)
	require.Contains(t, logs[0].Errors, "FAIL [pdns-down]", "the action log keeps the DNS failure")
}
