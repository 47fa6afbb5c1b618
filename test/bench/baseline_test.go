package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

func TestDurabilityRatio(t *testing.T) {
	fleet := map[string]float64{procTemporal: 15, procWorker: 5, procPDNS: 4}
	base := map[string]float64{procBaseline: 2, procPDNS: 4}
	// (15 + 5) / 100 runs = 0.2 CPU-s per run against 2 / 100 = 0.02.
	if got := durabilityRatio(fleet, 100, base, 100); got != 10 {
		t.Errorf("ratio %v, want 10", got)
	}
	// Per successful run on each side: 0.2 against 2 / 50 = 0.04.
	if got := durabilityRatio(fleet, 100, base, 50); got != 5 {
		t.Errorf("ratio with half the baseline's runs failed: %v, want 5", got)
	}
	if got := cpuRatio(fleet, []string{procWorker}, 100, base, 100); got != 2.5 {
		t.Errorf("worker ratio %v, want 2.5", got)
	}
	for name, c := range map[string]struct {
		fleet, base         map[string]float64
		fleetRuns, baseRuns int
	}{
		"no successful fleet run":    {fleet, base, 0, 100},
		"no successful baseline run": {fleet, base, 100, 0},
		"no baseline CPU":            {fleet, map[string]float64{procPDNS: 1}, 100, 100},
		"no worker measured":         {map[string]float64{procTemporal: 15}, base, 100, 100},
	} {
		if got := durabilityRatio(c.fleet, c.fleetRuns, c.base, c.baseRuns); got != 0 {
			t.Errorf("%s: %v, want 0", name, got)
		}
	}
}

func TestBaselineAddRuns(t *testing.T) {
	t0 := time.Unix(1000, 0)
	svcs := []svc{{ID: 1, Stop: 2 * time.Second}, {ID: 2, Stop: 5 * time.Second}, {ID: 3, Stop: 3 * time.Second}}
	runs := []baselineRun{
		{ServiceID: 1, Start: t0, End: t0.Add(3100 * time.Millisecond)},                             // overhead 100 ms
		{ServiceID: 2, Start: t0.Add(time.Second), End: t0.Add(7300 * time.Millisecond)},            // overhead 300 ms
		{ServiceID: 3, Start: t0.Add(time.Second), End: t0.Add(9 * time.Second), Error: "DELETE x"}, // failed: no overhead
	}
	var res BaselineResult
	res.addRuns(svcs, runs, time.Second)
	if res.Succeeded != 2 || res.Failed != 1 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "service 3") {
		t.Fatalf("outcomes %+v", res)
	}
	if res.MakespanS != 9 || res.OverheadP50ms != 100 || res.OverheadP99ms != 300 || res.RunP99s != 6.3 {
		t.Errorf("makespan %v overhead p50 %v p99 %v run p99 %v, want 9 100 300 6.3", res.MakespanS, res.OverheadP50ms, res.OverheadP99ms, res.RunP99s)
	}
}

// The loop terminates with the activities themselves, outside any
// activity: on the simulator and MariaDB, each VM is stopped once,
// deleted once with its backups, and its row ends in 'remove' with the
// action log written.
func TestBareLoopTerminates(t *testing.T) {
	store, _ := testenv.NewDatabase(t)
	fx := stack.Cluster()
	fx.DestroyDuration = pvesim.Duration(200 * time.Millisecond)
	sim := pvesim.New(pvesim.Options{})
	if err := sim.LoadFixture(fx); err != nil {
		t.Fatal(err)
	}
	u, err := sim.Start("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, err := pve.New(stack.PVEConfig(u), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []int{stack.NextID(), stack.NextID()}
	vmids := map[int]int{}
	for i, id := range ids {
		node, vmid := nodes[i%len(nodes)], 100+i
		vmids[id] = vmid
		name := "bare" + strings.Repeat("x", i) + ".example.test"
		if err := stack.AddVMWithBackups(sim, node, vmid, name, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := stack.Seed(ctx, store, stack.Service{ID: id, UserID: 1, Domain: name, DedicatedIP: "192.0.2.10", VMID: vmid, Node: node, VMName: name}); err != nil {
			t.Fatal(err)
		}
	}
	l := &bareLoop{acts: &activities.Activities{Store: store, PVE: map[string]*pve.Client{stack.ServerName: c}, Out: &strings.Builder{}},
		tm: stack.FastTiming().WithDefaults(), slots: make(chan struct{}, 1)}
	runs := l.run(ctx, ids)
	for _, run := range runs {
		if run.Error != "" || !run.End.After(run.Start) {
			t.Errorf("service %d: %+v", run.ServiceID, run)
		}
		svc, err := store.LoadService(ctx, run.ServiceID)
		if err != nil {
			t.Fatal(err)
		}
		if svc.VM.VMStatus != dbmodel.StatusRemove {
			t.Errorf("service %d: vm_status %q, want %q", run.ServiceID, svc.VM.VMStatus, dbmodel.StatusRemove)
		}
		logs, err := store.ActionLogs(ctx, run.ServiceID)
		if err != nil || len(logs) != 1 {
			t.Errorf("service %d: %d action logs (%v), want 1", run.ServiceID, len(logs), err)
		}
		if left := sim.Backups(vmids[run.ServiceID]); len(left) != 0 {
			t.Errorf("service %d: backups left %v", run.ServiceID, left)
		}
	}
	calls := sim.Calls()
	for route, want := range map[string]int{routeShutdown: 2, routeDeleteVM: 2, routeDelVolume: 4, "POST /nodes/{node}/qemu/{vmid}/status/stop": 0} {
		if calls[route] != want {
			t.Errorf("%s: %d calls, want %d (%v)", route, calls[route], want, calls)
		}
	}
}
