package chaos

import (
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
	"github.com/proxmox-terminate/proxmox-terminate/test/chaos/invariant"
)

// Routes faults are aimed at.
const (
	routeVM       = "/nodes/{node}/qemu/{vmid}"
	routeShutdown = "/nodes/{node}/qemu/{vmid}/status/shutdown"
	routeStatus   = "/nodes/{node}/qemu/{vmid}/status/current"
	routeVolume   = "/nodes/{node}/storage/{storage}/content/{volume}"
)

// killed matches the reasons a run gives when worker kills exhausted an
// activity's retries ("timed out (Heartbeat)", ...): documented for every
// class, as long as the VM still exists.
const killed = `^timed out`

// Class is a kind of fault injected into one VM, with the end states
// documented for it (test/faultmatrix/README.md).
type Class struct {
	Name   string
	Weight int
	// Success: the run may end terminated. Refusal: a documented reason to
	// wait in error_terminate. Transient: a reason that retries may exhaust.
	Success   bool
	Refusal   string
	Transient string
	// Setup changes the VM before it is created and adds its faults after.
	Spec   func(*pvesim.VMSpec)
	Faults func(vmid int) []pvesim.Fault
	// Lift removes the cause so that an admin re-queue can succeed; nil:
	// the class is never re-queued.
	Lift func(sim *pvesim.Sim, vmid int) error
}

// Expect is what the invariant checker accepts for a VM of this class.
func (c Class) Expect() invariant.Expect {
	e := invariant.Expect{Class: c.Name, Success: c.Success}
	if c.Refusal != "" {
		e.Refusal = regexp.MustCompile(c.Refusal)
	}
	tr := killed
	if c.Transient != "" {
		tr = c.Transient + "|" + killed
	}
	e.Transient = regexp.MustCompile(tr)
	return e
}

func noLift(*pvesim.Sim, int) error { return nil }

// Classes is the chaos run's fault catalogue: guest behaviours and every
// simulator fault kind, transient (the run must still terminate) and
// persistent (the run must wait in error_terminate with the fault's reason).
var Classes = []Class{
	{Name: "clean", Weight: 8, Success: true},
	{Name: "slow_guest", Weight: 2, Success: true, Spec: func(s *pvesim.VMSpec) { s.ShutdownDelay = 2500 * time.Millisecond }},
	{Name: "ignore_acpi", Weight: 3, Success: true, Spec: func(s *pvesim.VMSpec) { s.IgnoreACPI = true }},
	{Name: "paused", Weight: 1, Success: true, Spec: func(s *pvesim.VMSpec) { s.Status = "paused" }},
	{Name: "ha", Weight: 1, Success: true, Spec: func(s *pvesim.VMSpec) { s.HA = true }},
	{Name: "latency", Weight: 2, Success: true, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Kind: pvesim.FaultLatency, Delay: 250 * time.Millisecond}}
	}},
	{Name: "node_flaky", Weight: 2, Success: true, Transient: `No route to host`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Kind: pvesim.FaultNodeUnreachable, Count: 3, Message: "No route to host"}}
	}},
	// On the stop phase's status reads: a 401 at the click is refused with
	// one line (the admin must fix the token), so it never starts a run.
	{Name: "token_flaky", Weight: 1, Success: true, Refusal: `access expired`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeStatus, Method: "GET", Kind: pvesim.FaultTokenExpired, Count: 2}}
	}},
	{Name: "lock_once", Weight: 2, Success: true, Transient: `got timeout`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Kind: pvesim.FaultLockTimeout, Count: 1}}
	}},
	{Name: "shutdown_task_fail", Weight: 1, Success: true, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeShutdown, Kind: pvesim.FaultTaskFail, Message: "chaos: QMP command 'system_powerdown' failed"}}
	}},
	{Name: "status_500", Weight: 1, Success: true, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeStatus, Kind: pvesim.FaultHTTPError, Count: 2, Message: "chaos: status read failed"}}
	}},
	{Name: "backup_fail", Weight: 1, Success: true, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeVolume, Kind: pvesim.FaultDeleteTaskFail, Message: "chaos: backup volume busy"}}
	}},
	// Documented refusals: the run waits in error_terminate.
	{Name: "protection", Weight: 2, Refusal: `protection mode enabled`,
		Spec: func(s *pvesim.VMSpec) { s.Protection = true },
		Lift: func(sim *pvesim.Sim, vmid int) error {
			return sim.UpdateVM(vmid, func(s *pvesim.VMSpec) { s.Protection = false })
		}},
	{Name: "hang", Weight: 2, Refusal: `is running - destroy failed`,
		Spec: func(s *pvesim.VMSpec) { s.Hang = true },
		Lift: func(sim *pvesim.Sim, vmid int) error {
			return sim.UpdateVM(vmid, func(s *pvesim.VMSpec) { s.Hang = false })
		}},
	{Name: "locked", Weight: 1, Refusal: `VM is locked \(backup\)|is running - destroy failed`,
		Spec: func(s *pvesim.VMSpec) { s.Lock = "backup" },
		Lift: func(sim *pvesim.Sim, vmid int) error {
			return sim.UpdateVM(vmid, func(s *pvesim.VMSpec) { s.Lock = "" })
		}},
	// A one-off destroy failure: the run waits with its reason, or — when a
	// worker kill lost the failed try's outcome and the DELETE was sent
	// again — terminates.
	{Name: "destroy_fail", Weight: 2, Success: true, Refusal: `chaos: lvremove failed`, Lift: noLift, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultDeleteTaskFail, Count: 1, Message: "chaos: lvremove failed"}}
	}},
	// The token expires after the click (a 401 at the click is refused):
	// every DELETE is refused.
	{Name: "token_expired", Weight: 1, Refusal: `access expired`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultTokenExpired}}
	}},
	{Name: "node_down", Weight: 1, Refusal: `No route to host`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Kind: pvesim.FaultNodeUnreachable, Message: "No route to host"}}
	}},
	{Name: "lock_stuck", Weight: 1, Refusal: `got timeout`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultLockTimeout}}
	}},
	{Name: "delete_500", Weight: 1, Refusal: `chaos: storage backend error`, Faults: func(vmid int) []pvesim.Fault {
		return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultHTTPError, Status: 500, Message: "chaos: storage backend error"}}
	}},
}

// pickClass draws a class by weight.
func pickClass(r *rand.Rand) Class {
	total := 0
	for _, c := range Classes {
		total += c.Weight
	}
	n := r.IntN(total)
	for _, c := range Classes {
		if n < c.Weight {
			return c
		}
		n -= c.Weight
	}
	return Classes[0]
}
