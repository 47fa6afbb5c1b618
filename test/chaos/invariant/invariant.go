// Package invariant checks the reliability promises after a chaos run: nothing is
// lost, nothing happens twice, no IP is freed while its VM still exists, and
// no machine other than the one being terminated is ever stopped or deleted.
//
// Check is a pure function of what the harness asked for (the Ledger), what
// the database holds (DBRow per service) and what the Proxmox simulator saw
// (its recorded requests and its VMs). Gather reads the last two from a
// dbmodel.Store and a pvesim.Sim.
package invariant

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// Role says why a VM instance exists.
type Role string

// Roles.
const (
	Target    Role = "target"    // the harness asked to terminate it
	Bystander Role = "bystander" // nothing may ever stop or delete it
)

// Instance is one VM the harness created on the simulator. A vmid may be
// used by several instances over time (reuse after deletion), never at once.
type Instance struct {
	Role      Role      `json:"role"`
	ServiceID int       `json:"service_id,omitempty"` // targets
	Node      string    `json:"node"`
	VMID      int       `json:"vmid"`
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`           // after the simulator had it
	Backups   []string  `json:"backups,omitempty"` // volids of its backups
}

// Outcome is a documented end state.
type Outcome string

// Documented end states.
const (
	Terminated     Outcome = "terminated"
	ErrorTerminate Outcome = "error_terminate"
)

// Expect is what one service's injected faults allow.
type Expect struct {
	Class string `json:"class"` // fault class, e.g. "protection"
	// Success: the run may end terminated.
	Success bool `json:"success"`
	// Refusal matches the reasons of a documented refusal of this class: the
	// run may wait in error_terminate with such a reason.
	Refusal *regexp.Regexp `json:"-"`
	// RefusalVMGone: the refusal is documented even when the VM is gone
	// (e.g. the deletion could not be confirmed). Otherwise a waiting run
	// needs the VM to still exist.
	RefusalVMGone bool `json:"refusal_vm_gone"`
	// Transient matches reasons of transient failures (of this class or of
	// worker kills) that may exhaust retries: documented only while the VM
	// still exists.
	Transient *regexp.Regexp `json:"-"`
}

// Service is one WHMCS service whose termination the harness started.
type Service struct {
	ID, UserID  int
	Target      Instance
	DedicatedIP string
	AssignedIPs string
	Domain      string
	Started     bool // a starter run exited 0 for it
	Expect      Expect
	Requeues    int // admin re-queues (reset --to terminate) the harness sent
	// UnansweredRequeues are re-queues the run did not answer before the
	// starter's deadline: each may or may not have become an attempt.
	UnansweredRequeues int
	// Reused: after the target was deleted, the harness created a new VM
	// with its vmid. The product may then refuse to confirm the deletion
	// (ReuseRefusal) although its VM is gone: documented, IPs kept.
	Reused bool
	// DNSRecords: how many DNS records the harness created for the target
	// (forward and reverse).
	DNSRecords int
}

// ReuseRefusal matches the documented refusals caused by a reused vmid: the
// identity guard ("identity mismatch at ..."), and DELETE's confirmation
// finding the vmid listed again ("... but the cluster lists it on node ...",
// "... the cluster still lists vmid ...").
var ReuseRefusal = regexp.MustCompile(`identity mismatch|but the cluster lists it on node|cluster still lists vmid`)

// Ledger is everything the harness did.
type Ledger struct {
	Services   []Service
	Bystanders []Instance // including those created on reused vmids
	// IPViolations are services seen, during the run, with their IPs
	// cleared in the database while their VM still existed (sampled: the
	// database read happened before the simulator read).
	IPViolations map[int]time.Time
}

// ActionRow is one row of the action log (one per attempt).
type ActionRow struct {
	Attempt int    `json:"attempt"`
	Result  string `json:"result"`
	Phase   string `json:"phase"`
	Errors  string `json:"errors"`
}

// DBRow is a service as the database holds it at the end.
type DBRow struct {
	HostingFound bool
	VMRowFound   bool
	VMStatus     string
	LastError    string
	Attempts     int
	VMID         int
	Node         string
	DedicatedIP  string
	AssignedIPs  string
	Domain       string
	Activity     []string    // tblactivitylog descriptions of the service's user, oldest first
	Actions      []ActionRow // action log, by attempt
}

// Workflow is the service's Temporal run at the end, as far as known.
type Workflow struct {
	Known   bool   // false when Temporal could not be asked
	Status  string // RUNNING, COMPLETED, FAILED, TERMINATED, ...
	Phase   string // status query phase ("waiting-for-admin", "done", ...)
	Outcome string
	Failure string // a FAILED run's failure, as its close event says
}

// Sim is the simulator's state at the end.
type Sim struct {
	Requests []pvesim.RecordedRequest
	VMs      []pvesim.VMState
}

// Input is everything Check reads.
type Input struct {
	Ledger   Ledger
	DB       map[int]DBRow
	Workflow map[int]Workflow
	Sim      Sim
	// DNS is how many of each service's DNS records (Service.DNSRecords)
	// are still there at the end, by service id.
	DNS map[int]int
}

// Report is the chaos run's verdict. The first six fields are the ones CI
// gates on; the rest describe the run.
type Report struct {
	Runs                    int `json:"runs"`
	Lost                    int `json:"lost"`
	DuplicateActivityLogs   int `json:"duplicate_activity_logs"`
	IPsClearedWhileVMExists int `json:"ips_cleared_while_vm_exists"`
	WrongVMActions          int `json:"wrong_vm_actions"`
	UndocumentedEndStates   int `json:"undocumented_end_states"`
	// BestEffortOnRefusedDelete: backups deleted in an attempt whose DELETE
	// Proxmox refused for protection or a running guest, or DNS records
	// deleted of a VM that lives on and whose every DELETE was refused so.
	BestEffortOnRefusedDelete int `json:"best_effort_on_refused_delete"`

	Terminated     int            `json:"terminated"`
	ErrorTerminate int            `json:"error_terminate"`
	Requeued       int            `json:"requeued"`
	NotStarted     int            `json:"not_started"`    // services whose every click was refused
	ReuseRefusals  int            `json:"reuse_refusals"` // waits in error_terminate because a new VM took the deleted VM's vmid
	Bystanders     int            `json:"bystanders"`
	ReusedVMIDs    int            `json:"reused_vmids"`
	Classes        map[string]int `json:"fault_classes,omitempty"`

	// Filled by the harness.
	WorkerKills     int     `json:"worker_kills"`
	ServerRestarts  int     `json:"server_restarts"` // Temporal server restarts
	TemporalServer  string  `json:"temporal_server"` // "dev", or the real server's version
	Workers         int     `json:"workers"`         // worker processes
	DNSDownWindows  int     `json:"dns_down_windows"`
	WorkerExits     int     `json:"worker_exits"` // the worker exited by itself (restarted like systemd would)
	StarterRefusals int     `json:"starter_refusals"`
	DirtyRefusals   int     `json:"dirty_refusals"` // a refused click that left a write behind
	Seed            int64   `json:"seed"`
	Seconds         float64 `json:"seconds"`

	Violations []Violation `json:"-"`
}

// Failed reports whether any gated counter is not zero.
func (r *Report) Failed() bool {
	return r.Lost != 0 || r.DuplicateActivityLogs != 0 || r.IPsClearedWhileVMExists != 0 ||
		r.WrongVMActions != 0 || r.UndocumentedEndStates != 0 || r.BestEffortOnRefusedDelete != 0 || r.DirtyRefusals != 0 || r.NotStarted != 0 || r.Runs == 0
}

// Violation explains one count.
type Violation struct {
	Kind      string `json:"kind"` // lost, duplicate_activity_logs, ips_cleared_while_vm_exists, wrong_vm_actions, undocumented_end_states
	ServiceID int    `json:"service_id,omitempty"`
	Detail    string `json:"detail"`
}

func (r *Report) add(kind string, id int, format string, args ...any) {
	r.Violations = append(r.Violations, Violation{Kind: kind, ServiceID: id, Detail: fmt.Sprintf(format, args...)})
}

// Kinds of violations.
const (
	KindLost         = "lost"
	KindDuplicate    = "duplicate_activity_logs"
	KindIPs          = "ips_cleared_while_vm_exists"
	KindWrongVM      = "wrong_vm_actions"
	KindUndocumented = "undocumented_end_states"
)

// Check evaluates every invariant.
func Check(in Input) *Report {
	r := &Report{Classes: map[string]int{}}
	present := presentVMs(in.Sim.VMs)
	for _, s := range in.Ledger.Services {
		if !s.Started {
			if s.ID != 0 {
				r.NotStarted++
			}
			continue
		}
		r.Runs++
		r.Classes[s.Expect.Class]++
		if s.Requeues > 0 {
			r.Requeued++
		}
		checkService(r, s, in.DB[s.ID], in.Workflow[s.ID], present, in.Ledger.IPViolations)
	}
	r.Bystanders = len(in.Ledger.Bystanders)
	seenVMID := map[int]bool{}
	for _, s := range in.Ledger.Services {
		seenVMID[s.Target.VMID] = true
	}
	for _, b := range in.Ledger.Bystanders {
		if seenVMID[b.VMID] {
			r.ReusedVMIDs++
		}
	}
	checkActions(r, in.Ledger, in.Sim)
	checkRefusedDestruction(r, in.Ledger, in.Sim, in.DB, present, in.DNS)
	return r
}

// vmKey identifies a VM instance on the simulator.
type vmKey struct {
	node string
	vmid int
}

func presentVMs(vms []pvesim.VMState) map[vmKey]pvesim.VMState {
	out := map[vmKey]pvesim.VMState{}
	for _, v := range vms {
		out[vmKey{v.Node, v.VMID}] = v
	}
	return out
}

// exists reports whether the instance is still on the simulator: same node,
// vmid and name (a reused vmid carries another name or node).
func exists(present map[vmKey]pvesim.VMState, in Instance) bool {
	v, ok := present[vmKey{in.Node, in.VMID}]
	return ok && v.Name == in.Name
}

func checkService(r *Report, s Service, row DBRow, wf Workflow, present map[vmKey]pvesim.VMState, sampled map[int]time.Time) {
	id := s.ID
	vmExists := exists(present, s.Target)
	cleared := row.HostingFound && row.DedicatedIP == "" && strings.TrimSpace(row.AssignedIPs) == ""

	// No IP is freed while its VM still exists.
	if cleared && vmExists {
		r.IPsClearedWhileVMExists++
		r.add(KindIPs, id, "tblhosting IPs cleared (vm_status=%s) while VM %d %q still exists on %s", row.VMStatus, s.Target.VMID, s.Target.Name, s.Target.Node)
	} else if at, ok := sampled[id]; ok {
		r.IPsClearedWhileVMExists++
		r.add(KindIPs, id, "at %s the IPs were cleared while VM %d still existed", at.Format(time.RFC3339Nano), s.Target.VMID)
	}

	// Nothing happens twice: one activity-log entry and one action-log row per attempt.
	successes, failures := 0, 0
	for _, d := range row.Activity {
		switch {
		case d == dbmodel.SuccessText:
			successes++
		case strings.HasPrefix(d, dbmodel.FailurePref):
			failures++
		}
	}
	attempts := map[int]int{}
	for _, a := range row.Actions {
		attempts[a.Attempt]++
	}
	dup := 0
	if n := len(row.Activity) - row.Attempts; n > 0 {
		dup = n
	}
	if successes > 1 && successes-1 > dup {
		dup = successes - 1
	}
	for _, n := range attempts {
		if n > 1 && n-1 > dup {
			dup = n - 1
		}
	}
	if dup > 0 {
		r.DuplicateActivityLogs += dup
		r.add(KindDuplicate, id, "%d activity-log entries (%d success, %d failed) and %d action-log rows for %d logged attempts", len(row.Activity), successes, failures, len(row.Actions), row.Attempts)
	}

	// Which end state, if any? The database decides; the workflow and
	// the number of attempts must agree with it.
	waiting := !wf.Known || (wf.Status == "RUNNING" && wf.Phase == "waiting-for-admin")
	completed := !wf.Known || wf.Status == "COMPLETED"
	var common []string
	if row.Attempts < 1+s.Requeues || row.Attempts > 1+s.Requeues+s.UnansweredRequeues {
		common = append(common, fmt.Sprintf("%d attempts were logged, but only %d were requested (1 click + %d re-queues, %d unanswered)",
			row.Attempts, 1+s.Requeues, s.Requeues, s.UnansweredRequeues))
	}
	switch {
	case row.VMRowFound && row.VMStatus == dbmodel.StatusRemove:
		r.Terminated++
		bad := common
		if !completed {
			bad = append(bad, fmt.Sprintf("the service's latest run is %s (phase %q), not completed%s", wf.Status, wf.Phase, failure(wf)))
		}
		if vmExists {
			bad = append(bad, "the VM still exists on the simulator")
		}
		if !cleared || row.Domain != "" {
			bad = append(bad, fmt.Sprintf("tblhosting not cleaned (dedicatedip=%q assignedips=%q domain=%q)", row.DedicatedIP, row.AssignedIPs, row.Domain))
		}
		if row.VMID != 0 || row.Node != "" {
			bad = append(bad, fmt.Sprintf("VM row identity kept (vmid=%d node=%q)", row.VMID, row.Node))
		}
		if dup == 0 && (successes != 1 || failures != row.Attempts-1 || len(row.Activity) != row.Attempts ||
			len(row.Activity) == 0 || row.Activity[len(row.Activity)-1] != dbmodel.SuccessText) {
			bad = append(bad, fmt.Sprintf("activity log %q for %d attempts", row.Activity, row.Attempts))
		}
		if len(row.Actions) == 0 || row.Actions[len(row.Actions)-1].Result != "success" || (dup == 0 && len(row.Actions) != row.Attempts) {
			bad = append(bad, fmt.Sprintf("action log has %d rows for %d attempts", len(row.Actions), row.Attempts))
		}
		if !s.Expect.Success && s.Requeues+s.UnansweredRequeues == 0 {
			bad = append(bad, fmt.Sprintf("fault class %s documents a refusal, but the run terminated", s.Expect.Class))
		}
		if len(bad) > 0 {
			r.UndocumentedEndStates++
			r.add(KindUndocumented, id, "terminated (class %s, %d attempts): %s", s.Expect.Class, row.Attempts, strings.Join(bad, "; "))
		}
	case row.VMRowFound && row.VMStatus == dbmodel.StatusErrorTerminate:
		r.ErrorTerminate++
		bad := common
		if !waiting {
			bad = append(bad, fmt.Sprintf("no run waits for an admin: the latest run is %s (phase %q)%s", wf.Status, wf.Phase, failure(wf)))
		}
		if row.DedicatedIP != s.DedicatedIP || row.AssignedIPs != s.AssignedIPs || row.Domain != s.Domain {
			bad = append(bad, fmt.Sprintf("tblhosting changed (dedicatedip=%q assignedips=%q domain=%q)", row.DedicatedIP, row.AssignedIPs, row.Domain))
		}
		if row.VMID != s.Target.VMID || row.Node != s.Target.Node {
			bad = append(bad, fmt.Sprintf("VM row identity changed (vmid=%d node=%q)", row.VMID, row.Node))
		}
		if dup == 0 && (successes != 0 || failures != row.Attempts || len(row.Activity) != row.Attempts ||
			len(row.Activity) == 0 || row.Activity[len(row.Activity)-1] != dbmodel.FailurePref+row.LastError) {
			bad = append(bad, fmt.Sprintf("activity log %q for %d attempts (last_error %q)", row.Activity, row.Attempts, row.LastError))
		}
		if dup == 0 && len(row.Actions) != row.Attempts {
			bad = append(bad, fmt.Sprintf("action log has %d rows for %d attempts", len(row.Actions), row.Attempts))
		}
		refusal := s.Expect.Refusal != nil && s.Expect.Refusal.MatchString(row.LastError)
		transient := s.Expect.Transient != nil && s.Expect.Transient.MatchString(row.LastError)
		switch {
		case s.Reused && ReuseRefusal.MatchString(row.LastError):
			r.ReuseRefusals++
		case refusal && (vmExists || s.Expect.RefusalVMGone):
		case (refusal || transient) && !vmExists:
			bad = append(bad, fmt.Sprintf("waits in error_terminate (%q) but VM %d %q is gone from the simulator", row.LastError, s.Target.VMID, s.Target.Name))
		case transient:
		default:
			bad = append(bad, fmt.Sprintf("reason %q does not match fault class %s (vm exists: %t)", row.LastError, s.Expect.Class, vmExists))
		}
		if len(bad) > 0 {
			r.UndocumentedEndStates++
			r.add(KindUndocumented, id, "error_terminate (class %s, %d attempts): %s", s.Expect.Class, row.Attempts, strings.Join(bad, "; "))
		}
	default:
		r.Lost++
		r.add(KindLost, id, "class %s: vm_status=%q (row found %t, hosting found %t), attempts=%d, last_error=%q, workflow=%+v, vm exists=%t",
			s.Expect.Class, row.VMStatus, row.VMRowFound, row.HostingFound, row.Attempts, row.LastError, wf, vmExists)
	}
}

func failure(wf Workflow) string {
	if wf.Failure == "" {
		return ""
	}
	return ": " + wf.Failure
}

// Routes whose requests stop or delete something.
const (
	RouteVM       = "/nodes/{node}/qemu/{vmid}"
	RouteShutdown = "/nodes/{node}/qemu/{vmid}/status/shutdown"
	RouteStop     = "/nodes/{node}/qemu/{vmid}/status/stop"
	RouteTask     = "/nodes/{node}/tasks/{upid}"
	RouteVolume   = "/nodes/{node}/storage/{storage}/content/{volume}"
)

// checkActions attributes every stop, shutdown, DELETE (of a VM, a task or a
// backup volume) the simulator received to the VM instance that lived at
// that place at that moment, and checks every bystander is intact.
func checkActions(r *Report, l Ledger, sim Sim) {
	byPlace := map[vmKey][]Instance{}
	targetVMIDs := map[int]bool{}
	bystanderVolumes := map[string]Instance{}
	for _, s := range l.Services {
		byPlace[vmKey{s.Target.Node, s.Target.VMID}] = append(byPlace[vmKey{s.Target.Node, s.Target.VMID}], s.Target)
		targetVMIDs[s.Target.VMID] = true
	}
	for _, b := range l.Bystanders {
		byPlace[vmKey{b.Node, b.VMID}] = append(byPlace[vmKey{b.Node, b.VMID}], b)
		for _, v := range b.Backups {
			bystanderVolumes[v] = b
		}
	}
	for k := range byPlace {
		list := byPlace[k]
		sort.SliceStable(list, func(i, j int) bool { return list[i].Created.Before(list[j].Created) })
	}
	harmed := map[string]bool{}
	id := func(in Instance) string { return fmt.Sprintf("%s/%d/%s", in.Node, in.VMID, in.Name) }
	for _, q := range sim.Requests {
		node, vmid, what, ok := action(q)
		if !ok {
			continue
		}
		if what == "DELETE volume" {
			vol := volumeOf(q.Path)
			if b, hit := bystanderVolumes[vol]; hit {
				r.WrongVMActions++
				harmed[id(b)] = true
				r.add(KindWrongVM, 0, "%s %s at %s deleted backup %s of bystander VM %d %q (%d %s)", q.Method, q.Path, q.Time.Format("15:04:05.000"), vol, b.VMID, b.Name, q.Status, q.Reason)
			}
			continue
		}
		if !targetVMIDs[vmid] {
			r.WrongVMActions++
			r.add(KindWrongVM, 0, "%s %s at %s: vmid %d was never a termination target (%d %s)", q.Method, q.Path, q.Time.Format("15:04:05.000"), vmid, q.Status, q.Reason)
			continue
		}
		var hit *Instance
		for i, in := range byPlace[vmKey{node, vmid}] {
			if !in.Created.After(q.Time) {
				hit = &byPlace[vmKey{node, vmid}][i]
			}
		}
		if hit != nil && hit.Role == Bystander {
			r.WrongVMActions++
			harmed[id(*hit)] = true
			r.add(KindWrongVM, 0, "%s %s at %s hit bystander VM %d %q on %s (created %s on a reused vmid) (%d %s)", q.Method, q.Path,
				q.Time.Format("15:04:05.000"), vmid, hit.Name, node, hit.Created.Format("15:04:05.000"), q.Status, q.Reason)
		}
	}
	present := presentVMs(sim.VMs)
	for _, b := range l.Bystanders {
		if harmed[id(b)] {
			continue
		}
		v, ok := present[vmKey{b.Node, b.VMID}]
		switch {
		case !ok || v.Name != b.Name:
			r.WrongVMActions++
			r.add(KindWrongVM, 0, "bystander VM %d %q on %s is gone", b.VMID, b.Name, b.Node)
		case v.Status != "running":
			r.WrongVMActions++
			r.add(KindWrongVM, 0, "bystander VM %d %q on %s is %s", b.VMID, b.Name, b.Node, v.Status)
		}
	}
}

// action reports whether q stops, shuts down or deletes something, and where.
func action(q pvesim.RecordedRequest) (node string, vmid int, what string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(q.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "nodes" {
		return "", 0, "", false
	}
	node = parts[1]
	switch {
	case q.Method == "POST" && (q.Route == RouteShutdown || q.Route == RouteStop),
		q.Method == "DELETE" && q.Route == RouteVM:
		if len(parts) < 4 {
			return "", 0, "", false
		}
		n, err := strconv.Atoi(parts[3])
		if err != nil {
			return "", 0, "", false
		}
		return node, n, q.Method + " " + q.Route, true
	case q.Method == "DELETE" && q.Route == RouteTask:
		// UPID:node:pid:pstart:starttime:type:id:user:
		f := strings.Split(parts[len(parts)-1], ":")
		if len(f) < 8 {
			return "", 0, "", false
		}
		n, err := strconv.Atoi(f[6])
		if err != nil {
			return "", 0, "", false // not a VM task
		}
		return node, n, "DELETE task", true
	case q.Method == "DELETE" && q.Route == RouteVolume:
		return node, 0, "DELETE volume", true
	}
	return "", 0, "", false
}

// volumeOf is the volid of a volume DELETE path
// (/nodes/N/storage/S/content/VOLID; the volid may hold slashes).
func volumeOf(path string) string {
	_, after, ok := strings.Cut(path, "/content/")
	if !ok {
		return ""
	}
	if v, err := url.PathUnescape(after); err == nil {
		return v
	}
	return after
}

// Gather reads the end state of the services from the database.
func Gather(ctx context.Context, store *dbmodel.Store, services []Service) (map[int]DBRow, error) {
	out := make(map[int]DBRow, len(services))
	db := store.DB().WithContext(ctx)
	vmTable := store.Config().VMTable
	actTable := store.Config().ActionLogTable
	for _, s := range services {
		var row DBRow
		var h dbmodel.Hosting
		if err := db.Where("id = ?", s.ID).Limit(1).Find(&h).Error; err != nil {
			return nil, err
		}
		row.HostingFound = h.ID == s.ID
		row.DedicatedIP, row.AssignedIPs, row.Domain = h.DedicatedIP, h.AssignedIPs, h.Domain
		var vms []dbmodel.VMInfo
		if err := db.Table(vmTable).Where("service_id = ?", s.ID).Find(&vms).Error; err != nil {
			return nil, err
		}
		if len(vms) > 0 {
			v := vms[0]
			row.VMRowFound = true
			row.VMStatus, row.LastError, row.Attempts, row.VMID, row.Node = v.VMStatus, v.LastError, v.TerminateAttempts, v.VMID, v.Node
		}
		logs, err := store.ActivityLogs(ctx, s.UserID)
		if err != nil {
			return nil, err
		}
		for _, l := range logs {
			row.Activity = append(row.Activity, l.Description)
		}
		var acts []dbmodel.ActionLog
		if err := db.Table(actTable).Where("service_id = ?", s.ID).Order("attempt").Find(&acts).Error; err != nil {
			return nil, err
		}
		for _, a := range acts {
			row.Actions = append(row.Actions, ActionRow{Attempt: a.Attempt, Result: a.Result, Phase: a.Phase, Errors: a.Errors})
		}
		out[s.ID] = row
	}
	return out, nil
}
