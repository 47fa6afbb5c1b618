package pvesim

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUPIDFormatAndTaskStatus(t *testing.T) {
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "stopped"})
	before := time.Now().Unix()
	upid := call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil).str(t)
	if !upidRE.MatchString(upid) {
		t.Fatalf("upid %q", upid)
	}
	parts := strings.Split(upid, ":")
	pid, _ := strconv.ParseInt(parts[2], 16, 64)
	pstart, _ := strconv.ParseInt(parts[3], 16, 64)
	start, _ := strconv.ParseInt(parts[4], 16, 64)
	if start < before || start > time.Now().Unix() {
		t.Fatalf("starttime %d not now", start)
	}
	st := waitTask(t, base, "pve1", upid)
	if num(st["pid"]) != int(pid) || num(st["pstart"]) != int(pstart) || num(st["starttime"]) != int(start) ||
		st["upid"] != upid || st["node"] != "pve1" || st["type"] != "qmdestroy" || st["id"] != "100" ||
		st["user"] != "root@pam" || st["tokenid"] != "terminate" || st["exitstatus"] != "OK" {
		t.Fatalf("task status %v", st)
	}
	logs := call(t, base, "GET", "/nodes/pve1/tasks/"+upid+"/log", nil)
	if l := logs.dataList(t); l[len(l)-1]["t"] != "TASK OK" || num(logs.Body["total"]) != len(l) {
		t.Fatalf("log %s", logs.Raw)
	}

	// limit=0 is the whole log, the default 50 lines, start skips lines.
	all := call(t, base, "GET", "/nodes/pve1/tasks/"+upid+"/log", url.Values{"limit": {"0"}})
	if got := all.dataList(t); len(got) != num(all.Body["total"]) || len(got) == 0 {
		t.Fatalf("limit=0 log %s", all.Raw)
	}
	one := call(t, base, "GET", "/nodes/pve1/tasks/"+upid+"/log", url.Values{"limit": {"1"}})
	if got := one.dataList(t); len(got) != 1 {
		t.Fatalf("limit=1 log %s", one.Raw)
	}

	r := call(t, base, "GET", "/nodes/pve1/tasks/UPID:pve1:garbage/status", nil)
	if r.Body["errors"].(map[string]any)["upid"] != "unable to parse worker upid" {
		t.Fatalf("%s", r.Raw)
	}
	r = call(t, base, "GET", "/nodes/pve1/tasks/UPID:pve1:00001234:00001234:00001234:qmstop:100:root@pam:/status", nil)
	if r.Body["errors"].(map[string]any)["upid"] != "no such task" {
		t.Fatalf("%s", r.Raw)
	}
	// Task files live on the node that ran the task.
	if err := New(Options{}).LoadFixture(Fixture{}); err == nil {
		t.Fatal("empty fixture accepted")
	}
}

func TestStopTaskEndpoint(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, IgnoreACPI: true})
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"3600"}}).str(t)
	r := call(t, base, "DELETE", "/nodes/pve1/tasks/"+upid, nil)
	if r.Code != 200 || r.Body["data"] != nil {
		t.Fatalf("stop task: %s %s", r.Status, r.Raw)
	}
	wantExit(t, taskStatus(t, base, "pve1", upid), "received interrupt")
	// The lock is free again: a stop proceeds at once.
	stop := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", stop), "OK")
	if v, _ := s.VM("pve1", 100); v.Status != "stopped" {
		t.Fatal("VM not stopped")
	}
	list := call(t, base, "GET", "/nodes/pve1/tasks", url.Values{"errors": {"1"}}).dataList(t)
	if len(list) != 1 || list[0]["status"] != "received interrupt" || list[0]["upid"] != upid {
		t.Fatalf("error task list %v", list)
	}
}

func TestTaskLifecycleIsLazyAndOrdered(t *testing.T) {
	// Events are applied in timestamp order when the state is read, so a
	// client polling late still sees the right outcome of racing tasks.
	opts := fastOpts()
	opts.LockWait = 30 * time.Millisecond
	s, base := startSim(t, opts, VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: 10 * time.Millisecond})
	a := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	b := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	time.Sleep(80 * time.Millisecond)
	ti := s.Tasks()
	if len(ti) != 2 || ti[0].UPID != a || ti[0].ExitStatus != "OK" || ti[1].UPID != b || ti[1].ExitStatus != "OK" {
		t.Fatalf("tasks %+v", ti)
	}
}
