package pvesim

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var upidRE = regexp.MustCompile(`^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:(qmshutdown|qmstop|qmdestroy|hastop|imgdel):[^:]*:root@pam!terminate:$`)

func TestStatusAndConfig(t *testing.T) {
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Name: "srv-42", Tags: []string{"whmcs", "client-42"},
		SMBIOS1: "uuid=6f1c2a40-1b1b-4c1e-9a57-0c1d2e3f4a5b", Protection: true, Lock: "backup", HA: true,
		Disks: []string{"local-lvm:vm-100-disk-0"}})
	st := vmStatus(t, base, "pve1", 100)
	for k, want := range map[string]any{"status": "running", "qmpstatus": "running", "name": "srv-42", "tags": "whmcs;client-42", "lock": "backup"} {
		if st[k] != want {
			t.Errorf("status/current %s = %v, want %v", k, st[k], want)
		}
	}
	if num(st["vmid"]) != 100 || num(st["pid"]) == 0 {
		t.Errorf("vmid/pid: %v", st)
	}
	if ha := st["ha"].(map[string]any); num(ha["managed"]) != 1 || ha["state"] != "started" {
		t.Errorf("ha %v", ha)
	}
	cfg := call(t, base, "GET", "/nodes/pve1/qemu/100/config", nil).dataMap(t)
	if cfg["smbios1"] != "uuid=6f1c2a40-1b1b-4c1e-9a57-0c1d2e3f4a5b" || num(cfg["protection"]) != 1 || cfg["lock"] != "backup" ||
		!strings.HasPrefix(cfg["scsi0"].(string), "local-lvm:vm-100-disk-0,") || len(cfg["digest"].(string)) != 40 {
		t.Errorf("config %v", cfg)
	}
	r := call(t, base, "GET", "/nodes/pve1/qemu/101/status/current", nil)
	wantStatus(t, r, "500 Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist")
	r = call(t, base, "GET", "/nodes/pve1/qemu/101/config", nil)
	wantStatus(t, r, "500 Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist")

	res := call(t, base, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).dataList(t)
	if len(res) != 1 || res[0]["id"] != "qemu/100" || res[0]["type"] != "qemu" || res[0]["hastate"] != "started" ||
		res[0]["node"] != "pve1" || res[0]["tags"] != "whmcs;client-42" {
		t.Errorf("cluster resources %v", res)
	}
}

func TestGracefulShutdown(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: 250 * time.Millisecond})
	// timeout is in PVE seconds (1ms each here): 1000 = 1s of wall clock.
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"1000"}}).str(t)
	if !upidRE.MatchString(upid) || !strings.Contains(upid, ":qmshutdown:100:") {
		t.Fatalf("upid %q", upid)
	}
	st := taskStatus(t, base, "pve1", upid)
	if st["status"] != "running" || st["type"] != "qmshutdown" || st["id"] != "100" || st["user"] != "root@pam" || st["tokenid"] != "terminate" {
		t.Fatalf("running task %v", st)
	}
	if _, ok := st["exitstatus"]; ok {
		t.Fatal("running task has exitstatus")
	}
	if vmStatus(t, base, "pve1", 100)["status"] != "running" {
		t.Fatal("guest off too early")
	}
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatalf("VM %s after shutdown", v.Status)
	}
}

func TestShutdownIgnoredACPI(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, IgnoreACPI: true})
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"5"}}).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "VM quit/powerdown failed - got timeout")
	if v, _ := s.VM("pve1", 100); v.Status != "running" {
		t.Fatalf("VM %s", v.Status)
	}
	// forceStop: the guest is killed when the timeout expires.
	upid = call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"5"}, "forceStop": {"1"}}).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatalf("VM %s", v.Status)
	}
}

func TestShutdownPausedVM(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "paused"})
	st := vmStatus(t, base, "pve1", 100)
	if st["status"] != "running" || st["qmpstatus"] != "paused" {
		t.Fatalf("paused VM status %v", st)
	}
	wantStatus(t, call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil), "500 VM is paused - cannot shutdown")
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"forceStop": {"1"}}).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatalf("VM %s", v.Status)
	}
}

func TestStopHungVM(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Hang: true})
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "VM quit/powerdown failed")
	upid = call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	if v, _ := s.VM("pve1", 100); v.Status != "running" {
		t.Fatalf("hung VM should survive SIGKILL, is %s", v.Status)
	}
	log := taskLog(s, upid)
	if strings.Join(log, "|") != "VM quit/powerdown failed - terminating now with SIGTERM|VM still running - terminating now with SIGKILL|TASK OK" {
		t.Fatalf("log %q", log)
	}
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil), "500 VM 100 is running - destroy failed")
}

func TestStopMissingVMFailsInTask(t *testing.T) {
	_, base := startSim(t, fastOpts())
	for _, cmd := range []string{"stop", "shutdown"} {
		upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/"+cmd, nil).str(t)
		wantExit(t, waitTask(t, base, "pve1", upid), "unable to find configuration file for VM 100 on node 'pve1'")
	}
}

// pvestatd stores qmpstatus as the guest's status: /cluster/resources lists
// a paused VM as "paused", while status/current keeps "running" with qmpstatus.
func TestClusterResourcesReportsPaused(t *testing.T) {
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "paused"}, VMSpec{Node: "pve1", VMID: 101})
	got := map[string]any{}
	for _, e := range call(t, base, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).dataList(t) {
		got[e["id"].(string)] = e["status"]
	}
	if got["qemu/100"] != "paused" || got["qemu/101"] != "running" {
		t.Fatalf("cluster resources status %v", got)
	}
	if st := vmStatus(t, base, "pve1", 100); st["status"] != "running" || st["qmpstatus"] != "paused" {
		t.Fatalf("status/current %v", st)
	}
}

func TestSecondShutdownWaitsForLock(t *testing.T) {
	opts := fastOpts()
	opts.LockWait = 300 * time.Millisecond
	s, base := startSim(t, opts, VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: time.Hour})
	first := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"3600"}}).str(t)
	second := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	stop := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", nil).str(t)
	if taskStatus(t, base, "pve1", second)["status"] != "running" {
		t.Fatal("second shutdown should wait for the lock")
	}
	lockMsg := "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
	wantExit(t, waitTask(t, base, "pve1", second), lockMsg)
	wantExit(t, waitTask(t, base, "pve1", stop), lockMsg)
	if taskStatus(t, base, "pve1", first)["status"] != "running" {
		t.Fatal("first shutdown ended")
	}
	if v, _ := s.VM("pve1", 100); v.Status != "running" {
		t.Fatal("VM stopped")
	}
}

func TestLockHandedOverWhenFree(t *testing.T) {
	opts := fastOpts()
	opts.LockWait = time.Second
	s, base := startSim(t, opts, VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: 40 * time.Millisecond})
	first := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	stop := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", first), "OK")
	wantExit(t, waitTask(t, base, "pve1", stop), "OK") // got the lock, VM already off
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatal("VM not stopped")
	}
}

func TestOverruleShutdown(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, IgnoreACPI: true})
	shut := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"3600"}}).str(t)
	stop := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", url.Values{"overrule-shutdown": {"1"}}).str(t)
	wantExit(t, waitTask(t, base, "pve1", shut), "received interrupt")
	wantExit(t, waitTask(t, base, "pve1", stop), "OK")
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatalf("VM %s", v.Status)
	}
	log := taskLog(s, stop)
	if len(log) == 0 || log[0] != "overruled qmshutdown tasks: "+shut {
		t.Fatalf("stop log %q", log)
	}
}

func TestHAManagedStopAndShutdown(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, HA: true, ShutdownDelay: 10 * time.Millisecond})
	r := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", url.Values{"overrule-shutdown": {"1"}})
	wantStatus(t, r, "400 Parameter verification failed.")
	if r.Body["errors"].(map[string]any)["overrule-shutdown"] != "Not applicable for HA resources." {
		t.Fatalf("%s", r.Raw)
	}
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	if !strings.Contains(upid, ":hastop:100:") {
		t.Fatalf("HA shutdown upid %s", upid)
	}
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	deadline := time.Now().Add(2 * time.Second)
	for {
		v, _ := s.VM("pve1", 100)
		if v.Status == "stopped" && v.HAState == "stopped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HA did not stop the VM: %+v", v)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRootOnlyOptionsWithToken(t *testing.T) {
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "stopped", Lock: "backup"})
	for _, c := range []struct{ method, path, param string }{
		{"DELETE", "/nodes/pve1/qemu/100", "skiplock"},
		{"POST", "/nodes/pve1/qemu/100/status/stop", "skiplock"},
		{"POST", "/nodes/pve1/qemu/100/status/shutdown", "keepActive"},
	} {
		r := call(t, base, c.method, c.path, url.Values{c.param: {"1"}})
		wantStatus(t, r, "400 Parameter verification failed.")
		if r.Body["errors"].(map[string]any)[c.param] != "Only root may use this option." {
			t.Fatalf("%s %s: %s", c.method, c.path, r.Raw)
		}
	}
}

func TestDestroyChecksInOrder(t *testing.T) {
	s, base := startSim(t, fastOpts(),
		VMSpec{Node: "pve1", VMID: 101, Status: "running", Protection: true, HA: true},
		VMSpec{Node: "pve1", VMID: 102, Status: "running", HA: true},
		VMSpec{Node: "pve1", VMID: 103, Status: "running"},
		VMSpec{Node: "pve1", VMID: 104, Status: "stopped", Lock: "backup"},
	)
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil), "500 Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist")
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/qemu/101", nil), "500 can't remove VM 101 - protection mode enabled")
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/qemu/102", nil), "500 unable to remove VM 102 - used in HA resources and purge parameter not set.")
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/qemu/102", url.Values{"purge": {"1"}}), "500 VM 102 is running - destroy failed")
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/qemu/103", nil), "500 VM 103 is running - destroy failed")
	upid := call(t, base, "DELETE", "/nodes/pve1/qemu/104", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "VM is locked (backup)")
	if !s.VMExists(104) {
		t.Fatal("locked VM removed")
	}
	if n := len(s.Tasks()); n != 1 {
		t.Fatalf("%d tasks, only the locked destroy should have started one", n)
	}
}

func TestDestroyRemovesVMDisksAndHAKeepsBackups(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "stopped", HA: true, Disks: []string{"local-lvm:vm-100-disk-0", "local-lvm:vm-100-disk-1"}})
	volid, err := s.AddBackup(FixtureBackup{Storage: "local", Node: "pve1", VMID: 100, CTime: Timestamp(time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	if volid != "local:backup/vzdump-qemu-100-2024_05_01-02_00_00.vma.zst" {
		t.Fatalf("volid %s", volid)
	}
	images := call(t, base, "GET", "/nodes/pve1/storage/local-lvm/content", url.Values{"vmid": {"100"}}).dataList(t)
	if len(images) != 2 {
		t.Fatalf("images %v", images)
	}
	upid := call(t, base, "DELETE", "/nodes/pve1/qemu/100", url.Values{"purge": {"1"}, "destroy-unreferenced-disks": {"1"}}).str(t)
	st := waitTask(t, base, "pve1", upid)
	wantExit(t, st, "OK")
	if s.VMExists(100) {
		t.Fatal("VM still exists")
	}
	if images := call(t, base, "GET", "/nodes/pve1/storage/local-lvm/content", nil).dataList(t); len(images) != 0 {
		t.Fatalf("disks left: %v", images)
	}
	if b := s.Backups(100); len(b) != 1 || b[0] != volid {
		t.Fatalf("backups %v", b)
	}
	wantStatus(t, call(t, base, "GET", "/nodes/pve1/qemu/100/status/current", nil), "500 Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist")
	if res := call(t, base, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).dataList(t); len(res) != 0 {
		t.Fatalf("VM still listed %v", res)
	}
}

func TestDestroyTaskWhileRunning(t *testing.T) {
	opts := fastOpts()
	opts.DestroyDuration = 300 * time.Millisecond
	opts.LockWait = time.Second
	s, base := startSim(t, opts, VMSpec{Node: "pve1", VMID: 100, Status: "stopped"})
	upid := call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	if st := vmStatus(t, base, "pve1", 100); st["lock"] != nil || taskStatus(t, base, "pve1", upid)["status"] != "running" {
		t.Fatalf("during destroy: %v", st)
	}
	// A second destroy passes the early checks and then waits for the lock.
	second := call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	wantExit(t, waitTask(t, base, "pve1", second), "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist")
	if s.VMExists(100) {
		t.Fatal("VM still exists")
	}
}

func TestWrongNodeAndOfflineNode(t *testing.T) {
	s, base := startSim(t, fastOpts())
	if err := s.LoadFixture(Fixture{Nodes: []FixtureNode{{Name: "pve1"}, {Name: "pve2"}},
		Storages: []FixtureStorage{{ID: "local", Type: "dir", Content: []string{"backup"}}},
		VMs:      []VMSpec{{Node: "pve1", VMID: 100}, {Node: "pve2", VMID: 200}}}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, call(t, base, "GET", "/nodes/pve2/qemu/100/status/current", nil), "500 Configuration file 'nodes/pve2/qemu-server/100.conf' does not exist")
	wantStatus(t, call(t, base, "GET", "/nodes/pve9/qemu/100/status/current", nil), "500 hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or service not known")
	if err := s.SetNodeOnline("pve2", false); err != nil {
		t.Fatal(err)
	}
	status, _, body := rawHTTP(t, base, "GET", "/nodes/pve2/qemu/200/status/current", map[string]string{"Authorization": testAuth}, "")
	if status != "HTTP/1.1 595 Connection refused" || body != "" {
		t.Fatalf("offline node: %q %q", status, body)
	}
	// Unknown routes are refused before proxying; cluster-wide calls still work.
	wantStatus(t, call(t, base, "GET", "/nodes/pve2/foo", nil), "501 Method 'GET /nodes/pve2/foo' not implemented")
	res := call(t, base, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).dataList(t)
	if len(res) != 2 || res[1]["status"] != "unknown" {
		t.Fatalf("resources %v", res)
	}
	nodes := call(t, base, "GET", "/nodes", nil).dataList(t)
	if nodes[1]["status"] != "offline" {
		t.Fatalf("nodes %v", nodes)
	}
}

func TestUpdateVMAtRuntime(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100})
	if err := s.UpdateVM(100, func(v *VMSpec) { v.IgnoreACPI = true }); err != nil {
		t.Fatal(err)
	}
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"2"}}).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "VM quit/powerdown failed - got timeout")
	if err := s.UpdateVM(100, func(v *VMSpec) { v.Status = "stopped" }); err != nil {
		t.Fatal(err)
	}
	if st := vmStatus(t, base, "pve1", 100); st["status"] != "stopped" || st["qmpstatus"] != "stopped" {
		t.Fatalf("%v", st)
	}
	if err := s.UpdateVM(100, func(v *VMSpec) { v.Status = "off" }); err == nil {
		t.Fatal("invalid status accepted")
	}
}

func TestShutdownTimeoutZero(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100})
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"0"}}).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "VM quit/powerdown failed - got timeout")
	// The ACPI request was delivered anyway: the guest goes off on its own.
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatalf("VM %s", v.Status)
	}
	s2, base2 := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: time.Hour})
	upid = call(t, base2, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"0"}, "forceStop": {"1"}}).str(t)
	wantExit(t, waitTask(t, base2, "pve1", upid), "OK")
	if v, _ := s2.VM("pve1", 100); v.Status != "stopped" {
		t.Fatalf("VM %s", v.Status)
	}
}
