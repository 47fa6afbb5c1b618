package invariant

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func target(id, vmid int, node string) Instance {
	return Instance{Role: Target, ServiceID: id, Node: node, VMID: vmid, Name: "svc" + string(rune('a'+id)), Created: t0}
}

func svc(id, vmid int, node string, e Expect) Service {
	return Service{ID: id, UserID: 100 + id, Target: target(id, vmid, node), DedicatedIP: "10.0.0.1", AssignedIPs: "2001:db8::1\n",
		Domain: "svc.example", Started: true, Expect: e}
}

var (
	clean      = Expect{Class: "clean", Success: true, Transient: regexp.MustCompile(`^timed out`)}
	protection = Expect{Class: "protection", Refusal: regexp.MustCompile(`protection mode enabled`), Transient: regexp.MustCompile(`^timed out`)}
)

func terminatedRow(attempts int) DBRow {
	r := DBRow{HostingFound: true, VMRowFound: true, VMStatus: dbmodel.StatusRemove, Attempts: attempts}
	for a := 1; a < attempts; a++ {
		r.Activity = append(r.Activity, dbmodel.FailurePref+"x")
		r.Actions = append(r.Actions, ActionRow{Attempt: a, Result: "error"})
	}
	r.Activity = append(r.Activity, dbmodel.SuccessText)
	r.Actions = append(r.Actions, ActionRow{Attempt: attempts, Result: "success"})
	return r
}

func waitingRow(s Service, reason string) DBRow {
	return DBRow{HostingFound: true, VMRowFound: true, VMStatus: dbmodel.StatusErrorTerminate, LastError: reason, Attempts: 1,
		VMID: s.Target.VMID, Node: s.Target.Node, DedicatedIP: s.DedicatedIP, AssignedIPs: s.AssignedIPs, Domain: s.Domain,
		Activity: []string{dbmodel.FailurePref + reason}, Actions: []ActionRow{{Attempt: 1, Result: "error"}}}
}

func vmState(in Instance, status string) pvesim.VMState {
	return pvesim.VMState{VMSpec: pvesim.VMSpec{Node: in.Node, VMID: in.VMID, Name: in.Name, Status: status}}
}

func req(method, route, path string, at time.Time) pvesim.RecordedRequest {
	return pvesim.RecordedRequest{Time: at, Method: method, Route: route, Path: path, Status: 200}
}

func kinds(r *Report) []string {
	var out []string
	for _, v := range r.Violations {
		out = append(out, v.Kind+": "+v.Detail)
	}
	return out
}

func TestCleanRunHasNoViolations(t *testing.T) {
	a := svc(1, 1000, "pve1", clean)
	b := svc(2, 1001, "pve2", protection)
	by := Instance{Role: Bystander, Node: "pve1", VMID: 5000, Name: "by", Created: t0, Backups: []string{"pbs:backup/vm/5000/x"}}
	in := Input{
		Ledger: Ledger{Services: []Service{a, b}, Bystanders: []Instance{by}},
		DB:     map[int]DBRow{1: terminatedRow(1), 2: waitingRow(b, "can't remove VM 1001 - protection mode enabled")},
		Workflow: map[int]Workflow{1: {Known: true, Status: "COMPLETED"},
			2: {Known: true, Status: "RUNNING", Phase: "waiting-for-admin"}},
		Sim: Sim{
			Requests: []pvesim.RecordedRequest{
				req("POST", RouteShutdown, "/nodes/pve1/qemu/1000/status/shutdown", t0.Add(time.Second)),
				req("DELETE", RouteVM, "/nodes/pve1/qemu/1000", t0.Add(2*time.Second)),
				req("DELETE", RouteVolume, "/nodes/pve1/storage/pbs/content/pbs:backup/vm/1000/y", t0.Add(2*time.Second)),
				req("DELETE", RouteVM, "/nodes/pve2/qemu/1001", t0.Add(2*time.Second)),
				req("GET", "/nodes/{node}/qemu/{vmid}/status/current", "/nodes/pve1/qemu/5000/status/current", t0.Add(3*time.Second)),
			},
			VMs: []pvesim.VMState{vmState(b.Target, "stopped"), vmState(by, "running")},
		},
	}
	r := Check(in)
	require.Empty(t, r.Violations)
	require.False(t, r.Failed())
	require.Equal(t, 2, r.Runs)
	require.Equal(t, 1, r.Terminated)
	require.Equal(t, 1, r.ErrorTerminate)
}

func TestLostAndDuplicateAndIPs(t *testing.T) {
	lost := svc(1, 1000, "pve1", clean)
	dup := svc(2, 1001, "pve1", clean)
	ips := svc(3, 1002, "pve1", clean)
	row2 := terminatedRow(1)
	row2.Activity = append(row2.Activity, dbmodel.SuccessText)
	row3 := terminatedRow(1)
	in := Input{
		Ledger: Ledger{Services: []Service{lost, dup, ips, {ID: 9}}},
		DB: map[int]DBRow{
			1: {HostingFound: true, VMRowFound: true, VMStatus: dbmodel.StatusTerminate},
			2: row2,
			3: row3,
		},
		Workflow: map[int]Workflow{1: {Known: true, Status: "RUNNING", Phase: "stop"}, 2: {Known: true, Status: "COMPLETED"}, 3: {Known: true, Status: "COMPLETED"}},
		Sim:      Sim{VMs: []pvesim.VMState{vmState(ips.Target, "stopped")}},
	}
	r := Check(in)
	require.Equal(t, 3, r.Runs, "services never started are not runs")
	require.Equal(t, 1, r.NotStarted)
	require.Equal(t, 1, r.Lost, kinds(r))
	require.Equal(t, 1, r.DuplicateActivityLogs, kinds(r))
	require.Equal(t, 1, r.IPsClearedWhileVMExists, kinds(r))
	require.Equal(t, 1, r.UndocumentedEndStates, "a terminated run whose VM still exists is undocumented too: %v", kinds(r))
	require.True(t, r.Failed())
}

func TestSampledIPViolationCounts(t *testing.T) {
	s := svc(1, 1000, "pve1", clean)
	r := Check(Input{Ledger: Ledger{Services: []Service{s}, IPViolations: map[int]time.Time{1: t0}},
		DB: map[int]DBRow{1: terminatedRow(1)}, Workflow: map[int]Workflow{1: {Known: true, Status: "COMPLETED"}}})
	require.Equal(t, 1, r.IPsClearedWhileVMExists)
	require.Equal(t, 0, r.UndocumentedEndStates)
}

func TestUndocumentedEndStates(t *testing.T) {
	mismatch := svc(1, 1000, "pve1", protection)
	goneWaiting := svc(2, 1001, "pve1", clean)
	refusedButDone := svc(3, 1002, "pve1", protection)
	ipsTaken := svc(4, 1003, "pve1", protection)
	row4 := waitingRow(ipsTaken, "can't remove VM 1003 - protection mode enabled")
	row4.DedicatedIP = ""
	in := Input{
		Ledger: Ledger{Services: []Service{mismatch, goneWaiting, refusedButDone, ipsTaken}},
		DB: map[int]DBRow{
			1: waitingRow(mismatch, "VM 1000 is running - destroy failed"),
			2: waitingRow(goneWaiting, "timed out (Heartbeat)"),
			3: terminatedRow(1),
			4: row4,
		},
		Sim: Sim{VMs: []pvesim.VMState{vmState(mismatch.Target, "running"), vmState(ipsTaken.Target, "running")}},
	}
	r := Check(in) // workflows unknown: the database decides
	require.Equal(t, 4, r.UndocumentedEndStates, kinds(r))
	text := strings.Join(kinds(r), "\n")
	require.Contains(t, text, "does not match fault class protection")
	require.Contains(t, text, "is gone from the simulator")
	require.Contains(t, text, "documents a refusal, but the run terminated")
	require.Contains(t, text, "tblhosting changed")
	require.Equal(t, 0, r.IPsClearedWhileVMExists, "assignedips is kept")
}

func TestRequeuedRefusalMayTerminate(t *testing.T) {
	s := svc(1, 1000, "pve1", protection)
	s.Requeues = 1
	r := Check(Input{Ledger: Ledger{Services: []Service{s}}, DB: map[int]DBRow{1: terminatedRow(2)},
		Workflow: map[int]Workflow{1: {Known: true, Status: "COMPLETED"}}})
	require.Empty(t, r.Violations)
	require.Equal(t, 1, r.Requeued)
}

func TestWrongVMActions(t *testing.T) {
	s := svc(1, 1000, "pve1", clean)
	by := Instance{Role: Bystander, Node: "pve2", VMID: 5000, Name: "by", Created: t0, Backups: []string{"local:backup/vzdump-qemu-5000-2026_01_01-00_00_00.vma.zst"}}
	reuseSame := Instance{Role: Bystander, Node: "pve1", VMID: 1000, Name: "reuse-same", Created: t0.Add(10 * time.Second)}
	reuseOther := Instance{Role: Bystander, Node: "pve3", VMID: 1000, Name: "reuse-other", Created: t0.Add(10 * time.Second)}
	gone := Instance{Role: Bystander, Node: "pve2", VMID: 5001, Name: "gone", Created: t0}
	stopped := Instance{Role: Bystander, Node: "pve2", VMID: 5002, Name: "stopped", Created: t0}
	in := Input{
		Ledger: Ledger{Services: []Service{s}, Bystanders: []Instance{by, reuseSame, reuseOther, gone, stopped}},
		DB:     map[int]DBRow{1: terminatedRow(1)}, Workflow: map[int]Workflow{1: {Known: true, Status: "COMPLETED"}},
		Sim: Sim{
			Requests: []pvesim.RecordedRequest{
				// Fine: the target, before the reuse; a DELETE to a node where nothing lives.
				req("DELETE", RouteVM, "/nodes/pve1/qemu/1000", t0.Add(5*time.Second)),
				req("DELETE", RouteVM, "/nodes/pve2/qemu/1000", t0.Add(6*time.Second)),
				// Wrong: a vmid never targeted; the reused vmid on the same node after the reuse;
				// the reused vmid on the other node; a bystander's backup; a task of a bystander.
				req("POST", RouteStop, "/nodes/pve2/qemu/5000/status/stop", t0.Add(7*time.Second)),
				req("DELETE", RouteVM, "/nodes/pve1/qemu/1000", t0.Add(11*time.Second)),
				req("POST", RouteShutdown, "/nodes/pve3/qemu/1000/status/shutdown", t0.Add(12*time.Second)),
				req("DELETE", RouteVolume, "/nodes/pve2/storage/local/content/local:backup/vzdump-qemu-5000-2026_01_01-00_00_00.vma.zst", t0.Add(13*time.Second)),
				req("DELETE", RouteTask, "/nodes/pve2/tasks/UPID:pve2:00001:00002:65000000:qmshutdown:5000:root@pam!terminate:", t0.Add(14*time.Second)),
			},
			VMs: []pvesim.VMState{vmState(by, "running"), vmState(reuseSame, "running"), vmState(reuseOther, "running"), vmState(stopped, "stopped")},
		},
	}
	r := Check(in)
	require.Equal(t, 7, r.WrongVMActions, kinds(r))
	require.Equal(t, 2, r.ReusedVMIDs)
	text := strings.Join(kinds(r), "\n")
	require.Contains(t, text, "never a termination target")
	require.Contains(t, text, `hit bystander VM 1000 "reuse-same"`)
	require.Contains(t, text, `hit bystander VM 1000 "reuse-other"`)
	require.Contains(t, text, "deleted backup")
	require.Contains(t, text, `bystander VM 5001 "gone" on pve2 is gone`)
	require.Contains(t, text, `bystander VM 5002 "stopped" on pve2 is stopped`)
}

func TestReusedVMIDRefusalIsDocumentedOnlyAfterReuse(t *testing.T) {
	reused := svc(1, 1000, "pve1", clean)
	reused.Reused = true
	notReused := svc(2, 1001, "pve1", clean)
	reason := `identity mismatch at pve1/1000: the record describes name "svcb", Proxmox has name "reuse"; touching nothing`
	r := Check(Input{Ledger: Ledger{Services: []Service{reused, notReused}},
		DB: map[int]DBRow{1: waitingRow(reused, reason), 2: waitingRow(notReused, "destroy task ended but the cluster still lists vmid 1001 on node pve2")}})
	require.Equal(t, 1, r.ReuseRefusals)
	require.Equal(t, 1, r.UndocumentedEndStates, kinds(r))
	require.Equal(t, 2, r.Violations[0].ServiceID)
}

// A service terminated in the database whose latest run failed (a second,
// spurious run), and a second attempt nobody asked for, are undocumented.
func TestWorkflowAndAttemptsMustAgree(t *testing.T) {
	failedRun := svc(1, 1000, "pve1", clean)
	extraAttempt := svc(2, 1001, "pve1", protection)
	row2 := waitingRow(extraAttempt, "can't remove VM 1001 - protection mode enabled")
	row2.Attempts = 2
	row2.Activity = append(row2.Activity, row2.Activity[0])
	row2.Actions = append(row2.Actions, ActionRow{Attempt: 2, Result: "error"})
	r := Check(Input{
		Ledger: Ledger{Services: []Service{failedRun, extraAttempt}},
		DB:     map[int]DBRow{1: terminatedRow(1), 2: row2},
		Workflow: map[int]Workflow{1: {Known: true, Status: "FAILED"},
			2: {Known: true, Status: "RUNNING", Phase: "waiting-for-admin"}},
		Sim: Sim{VMs: []pvesim.VMState{vmState(extraAttempt.Target, "running")}},
	})
	require.Equal(t, 0, r.Lost)
	require.Equal(t, 2, r.UndocumentedEndStates, kinds(r))
	text := strings.Join(kinds(r), "\n")
	require.Contains(t, text, "latest run is FAILED")
	require.Contains(t, text, "2 attempts were logged, but only 1 were requested")
}

func TestBackupsDeletedBeforeARefusedDeleteAreCounted(t *testing.T) {
	vol := "pbs:backup/vm/1001/x"
	b := svc(2, 1001, "pve2", protection)
	b.Target.Backups = []string{vol}
	refused := func(reason string, at time.Time) pvesim.RecordedRequest {
		q := req("DELETE", RouteVM, "/nodes/pve2/qemu/1001", at)
		q.Status, q.Reason = 500, reason
		return q
	}
	in := func(reqs ...pvesim.RecordedRequest) Input {
		return Input{
			Ledger:   Ledger{Services: []Service{b}},
			DB:       map[int]DBRow{2: waitingRow(b, "can't remove VM 1001 - protection mode enabled")},
			Workflow: map[int]Workflow{2: {Known: true, Status: "RUNNING", Phase: "waiting-for-admin"}},
			Sim:      Sim{Requests: reqs, VMs: []pvesim.VMState{vmState(b.Target, "stopped")}},
		}
	}
	delVol := req("DELETE", RouteVolume, "/nodes/pve2/storage/pbs/content/"+vol, t0.Add(time.Second))

	r := Check(in(delVol, refused("can't remove VM 1001 - protection mode enabled", t0.Add(2*time.Second))))
	require.Equal(t, 1, r.BestEffortOnRefusedDelete, kinds(r))
	require.True(t, r.Failed())

	r = Check(in(delVol, refused("VM 1001 is running - destroy failed", t0.Add(2*time.Second))))
	require.Equal(t, 1, r.BestEffortOnRefusedDelete, kinds(r))

	// The refusal came first and nothing was destroyed: documented.
	r = Check(in(refused("can't remove VM 1001 - protection mode enabled", t0.Add(time.Second))))
	require.Zero(t, r.BestEffortOnRefusedDelete, kinds(r))

	// A refusal no check can predict (a storage error) after the backups: not this invariant's.
	r = Check(in(delVol, refused("storage backend error", t0.Add(2*time.Second))))
	require.Zero(t, r.BestEffortOnRefusedDelete, kinds(r))
}

func TestDNSDeletedOfAVMThatLivesOnIsCounted(t *testing.T) {
	s := svc(3, 1002, "pve1", protection)
	s.DNSRecords = 4
	in := func(left int, vm bool, reqs ...pvesim.RecordedRequest) Input {
		var vms []pvesim.VMState
		if vm {
			vms = []pvesim.VMState{vmState(s.Target, "stopped")}
		}
		return Input{
			Ledger:   Ledger{Services: []Service{s}},
			DB:       map[int]DBRow{3: waitingRow(s, "can't remove VM 1002 - protection mode enabled")},
			Workflow: map[int]Workflow{3: {Known: true, Status: "RUNNING", Phase: "waiting-for-admin"}},
			Sim:      Sim{Requests: reqs, VMs: vms},
			DNS:      map[int]int{3: left},
		}
	}
	refused := req("DELETE", RouteVM, "/nodes/pve1/qemu/1002", t0.Add(time.Second))
	refused.Status, refused.Reason = 500, "can't remove VM 1002 - protection mode enabled"

	// Records gone, no DELETE ever sent (the check refused it), the VM lives on.
	r := Check(in(2, true))
	require.Equal(t, 1, r.BestEffortOnRefusedDelete, kinds(r))
	require.Contains(t, strings.Join(kinds(r), "\n"), "2 of its 4 DNS records deleted")
	// The same with a DELETE Proxmox refused for protection.
	r = Check(in(0, true, refused))
	require.Equal(t, 1, r.BestEffortOnRefusedDelete, kinds(r))

	// Every record kept: documented.
	r = Check(in(4, true, refused))
	require.Zero(t, r.BestEffortOnRefusedDelete, kinds(r))
	// A DELETE that failed for another reason came after an allowed DNS phase.
	other := req("DELETE", RouteVM, "/nodes/pve1/qemu/1002", t0.Add(2*time.Second))
	other.Status, other.Reason = 500, "storage backend error"
	r = Check(in(0, true, refused, other))
	require.Zero(t, r.BestEffortOnRefusedDelete, kinds(r))
	// The VM is gone: its records went with it.
	r = Check(in(0, false))
	require.Zero(t, r.BestEffortOnRefusedDelete, kinds(r))
	// The run waits for another reason (a DELETE phase that could not
	// reach the node after an allowed DNS phase): not this invariant's.
	waitsFor := func(left int, reason string) Input {
		x := in(left, true)
		row := x.DB[3]
		row.LastError = reason
		x.DB[3] = row
		return x
	}
	r = Check(waitsFor(0, "No route to host"))
	require.Zero(t, r.BestEffortOnRefusedDelete, kinds(r))
	// The check refused a node that stayed unreachable: its DNS stays.
	r = Check(waitsFor(0, "node pve1 does not answer: No route to host"))
	require.Equal(t, 1, r.BestEffortOnRefusedDelete, kinds(r))
}

// A re-queue the run did not answer before the starter's deadline may or
// may not have become an attempt: both counts are documented, a third is not.
func TestUnansweredRequeueMayBeAnAttempt(t *testing.T) {
	hang := Expect{Class: "hang", Refusal: regexp.MustCompile(`is running`), Transient: regexp.MustCompile(`^timed out`)}
	s := svc(3, 1003, "pve1", hang)
	s.UnansweredRequeues = 1
	check := func(attempts int) *Report {
		return Check(Input{
			Ledger:   Ledger{Services: []Service{s}},
			DB:       map[int]DBRow{3: terminatedRow(attempts)},
			Workflow: map[int]Workflow{3: {Known: true, Status: "COMPLETED"}},
		})
	}
	require.Zero(t, check(2).UndocumentedEndStates, kinds(check(2)))
	r := check(3)
	require.Equal(t, 1, r.UndocumentedEndStates, kinds(r))
	require.Contains(t, strings.Join(kinds(r), "\n"), "3 attempts were logged, but only 1 were requested (1 click + 0 re-queues, 1 unanswered)")
}
