package pvesim

import (
	"net/url"
	"testing"
	"time"
)

func TestFaultLatency(t *testing.T) {
	s, base := startSim(t, fastOpts())
	s.SetFault(Fault{Kind: FaultLatency, Route: "/version", Delay: 250 * time.Millisecond, Count: 1})
	start := time.Now()
	call(t, base, "GET", "/version", nil)
	if time.Since(start) < 250*time.Millisecond {
		t.Fatal("no latency")
	}
	start = time.Now()
	call(t, base, "GET", "/version", nil)
	if time.Since(start) > 200*time.Millisecond {
		t.Fatal("latency applied more than Count times")
	}
}

func TestFaultNodeUnreachableWithCount(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100})
	s.SetFault(Fault{Kind: FaultNodeUnreachable, Node: "pve1", Count: 2, Message: "No route to host"})
	for i := 0; i < 2; i++ {
		r := call(t, base, "GET", "/nodes/pve1/qemu/100/status/current", nil)
		wantStatus(t, r, "595 No route to host")
		if len(r.Raw) != 0 {
			t.Fatalf("595 body %q", r.Raw)
		}
	}
	if r := call(t, base, "GET", "/nodes/pve1/qemu/100/status/current", nil); r.Code != 200 {
		t.Fatalf("third call: %s", r.Status)
	}
	// Cluster-level routes are not proxied to a node.
	s.SetFault(Fault{Kind: FaultNodeUnreachable})
	if r := call(t, base, "GET", "/cluster/resources", nil); r.Code != 200 {
		t.Fatalf("cluster/resources: %s", r.Status)
	}
	s.ClearFaults()
	if r := call(t, base, "GET", "/nodes/pve1/status", nil); r.Code != 200 {
		t.Fatalf("after ClearFaults: %s", r.Status)
	}
}

func TestFaultTokenExpired(t *testing.T) {
	s, base := startSim(t, fastOpts())
	s.SetFault(Fault{Kind: FaultTokenExpired, Count: 1})
	wantStatus(t, call(t, base, "GET", "/version", nil), "401 token 'terminate' access expired")
	if r := call(t, base, "GET", "/version", nil); r.Code != 200 {
		t.Fatalf("%s", r.Status)
	}
}

func TestFaultLockTimeout(t *testing.T) {
	opts := fastOpts()
	opts.LockWait = 300 * time.Millisecond
	s, base := startSim(t, opts, VMSpec{Node: "pve1", VMID: 100, Status: "stopped"}, VMSpec{Node: "pve1", VMID: 101, Status: "stopped"})
	s.SetFault(Fault{Kind: FaultLockTimeout, VMID: 100, Count: 1})
	upid := call(t, base, "DELETE", "/nodes/pve1/qemu/101", nil).str(t) // other VM: unaffected
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	upid = call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	if taskStatus(t, base, "pve1", upid)["status"] != "running" {
		t.Fatal("lock timeout should take LockWait")
	}
	wantExit(t, waitTask(t, base, "pve1", upid), "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
	if !s.VMExists(100) {
		t.Fatal("VM removed")
	}
	upid = call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	// Routes that never take the VM config lock are not affected.
	s.SetFault(Fault{Kind: FaultLockTimeout, Route: "/version"})
	if r := call(t, base, "GET", "/version", nil); r.Code != 200 {
		t.Fatalf("%s", r.Status)
	}
}

func TestFaultDeleteTaskFail(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "stopped", Disks: []string{"local-lvm:vm-100-disk-0"}})
	s.SetFault(Fault{Kind: FaultDeleteTaskFail, Route: "/nodes/{node}/qemu/{vmid}", Method: "DELETE", Count: 1,
		Message: "lvremove 'pve/vm-100-disk-0' error: Logical volume pve/vm-100-disk-0 in use."})
	upid := call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "lvremove 'pve/vm-100-disk-0' error: Logical volume pve/vm-100-disk-0 in use.")
	if !s.VMExists(100) {
		t.Fatal("VM removed")
	}
	upid = call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
}

func TestFaultTaskFailAndHTTPError(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100})
	s.SetFault(Fault{Kind: FaultTaskFail, Route: "/nodes/{node}/qemu/{vmid}/status/stop", Count: 1, Message: "boom"})
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "boom")

	s.SetFault(Fault{Kind: FaultHTTPError, Method: "GET", Route: "/nodes/{node}/qemu/{vmid}/status/current", Status: 500, Message: "got timeout", Count: 1})
	r := call(t, base, "GET", "/nodes/pve1/qemu/100/status/current", nil)
	wantStatus(t, r, "500 got timeout")
	if r.Body["message"] != "got timeout\n" {
		t.Fatalf("%s", r.Raw)
	}
	if r := call(t, base, "GET", "/nodes/pve1/qemu/100/status/current", nil); r.Code != 200 {
		t.Fatalf("%s", r.Status)
	}
	// SetFault with the same filter replaces the fault.
	s.SetFault(Fault{Kind: FaultHTTPError, Route: "/version", Status: 503, Message: "a"})
	s.SetFault(Fault{Kind: FaultHTTPError, Route: "/version", Status: 502, Message: "b"})
	wantStatus(t, call(t, base, "GET", "/version", url.Values{}), "502 b")
}
