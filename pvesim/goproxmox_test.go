package pvesim

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

// TestWithGoProxmoxClient drives the simulator with the client library the
// project uses, to make sure its error handling (errors.New(res.Status) for
// 500/501) and its request encoding meet the simulated server.
func TestWithGoProxmoxClient(t *testing.T) {
	s, base := startSim(t, fastOpts(),
		VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: 5 * time.Millisecond, Disks: []string{"local-lvm:vm-100-disk-0"}},
		VMSpec{Node: "pve1", VMID: 101, Status: "running", IgnoreACPI: true},
	)
	ctx := context.Background()
	c := proxmox.NewClient(base, proxmox.WithAPIToken(DefaultTokenID, DefaultTokenSecret), proxmox.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))

	node, err := c.Node(ctx, "pve1")
	if err != nil {
		t.Fatal(err)
	}
	vm, err := node.VirtualMachine(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if vm.Name != "vm100" || vm.Status != "running" {
		t.Fatalf("vm %+v", vm)
	}
	if _, err := vm.Delete(ctx, nil); err == nil || err.Error() != "500 VM 100 is running - destroy failed" {
		t.Fatalf("delete running VM: %v", err)
	}
	task := shutdown(ctx, t, vm)
	if !task.IsSuccessful || task.ExitStatus != "OK" {
		t.Fatalf("shutdown task %+v", task)
	}
	task, err = vm.Delete(ctx, &proxmox.VirtualMachineDeleteOptions{Purge: true, DestroyUnreferencedDisks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx, 2*time.Millisecond, 5*time.Second); err != nil || !task.IsSuccessful {
		t.Fatalf("destroy: %v %+v", err, task)
	}
	if s.VMExists(100) {
		t.Fatal("VM 100 still exists")
	}
	if _, err := node.VirtualMachine(ctx, 100); err == nil || err.Error() != "500 Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist" {
		t.Fatalf("missing VM: %v", err)
	}

	vm101, err := node.VirtualMachine(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	// The library sends no timeout: the shutdown waits 60 simulated seconds.
	task = shutdown(ctx, t, vm101)
	if !task.IsFailed || task.ExitStatus != "VM quit/powerdown failed - got timeout" {
		t.Fatalf("shutdown of ACPI-ignoring VM %+v", task)
	}
	res, err := (&proxmox.Cluster{}).New(c).Resources(ctx, "vm")
	if err != nil || len(res) != 1 || res[0].ID != "qemu/101" {
		t.Fatalf("resources %v %+v", err, res)
	}
	for _, r := range s.Requests() {
		if err := CheckRequest(r.Method, r.Path, r.Params); err != nil {
			t.Errorf("go-proxmox sent a non-conforming request %s %s: %v", r.Method, r.Path, err)
		}
	}
	if !strings.Contains(strings.Join(keys(s.Calls()), ","), "GET /nodes/{node}/status") {
		t.Fatalf("calls %v", s.Calls())
	}
}

// shutdown shuts vm down through go-proxmox and waits for the task to end.
func shutdown(ctx context.Context, t *testing.T, vm *proxmox.VirtualMachine) *proxmox.Task {
	t.Helper()
	task, err := vm.Shutdown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx, 2*time.Millisecond, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return task
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
