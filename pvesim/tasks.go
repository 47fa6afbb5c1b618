package pvesim

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// task is a PVE worker (fork_worker). Its UPID and status follow
// PVE::Tools::upid_encode and PVE::API2::Tasks::read_task_status.
type task struct {
	upid      string
	node      string
	typ       string
	id        string
	user      string
	vmid      int // VM whose config lock the task uses (0: none)
	pid       int
	pstart    int
	starttime int64
	done      bool
	exit      string
	endtime   int64
	log       []string

	holdsLock   bool
	onLock      func(now time.Time)
	lockTimeout *event
	onVMOff     func(now time.Time)
	timers      []*event

	failWith string // injected task_fail / delete_task_fail message
}

var reUPID = regexp.MustCompile(`^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$`)

func itoa(i int) string { return strconv.Itoa(i) }

func (s *Sim) newTask(node, typ, id, user string, vmid int, now time.Time) *task {
	pid := s.newPID()
	t := &task{
		node: node, typ: typ, id: id, user: user, vmid: vmid, pid: pid,
		// pstart is the process start time in clock ticks since boot; any
		// increasing number does, the node "booted" 0x1234567 ticks ago.
		pstart:    0x1234567 + pid*3,
		starttime: now.Unix(),
	}
	t.upid = fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:", node, t.pid, t.pstart, t.starttime, typ, id, user)
	s.tasks[t.upid] = t
	return t
}

func (t *task) logf(format string, args ...any) { t.log = append(t.log, fmt.Sprintf(format, args...)) }

func (t *task) addTimer(e *event) { t.timers = append(t.timers, e) }

// finishTask ends a task; exit is "OK" or the error text (TASK ERROR: ...).
func (s *Sim) finishTask(t *task, now time.Time, exit string) {
	if t.done {
		return
	}
	t.done = true
	t.endtime = now.Unix()
	exit = strings.ReplaceAll(strings.TrimRight(exit, "\n"), "\n", " ")
	t.exit = exit
	if exit == "OK" {
		t.log = append(t.log, "TASK OK")
	} else {
		t.log = append(t.log, "TASK ERROR: "+exit)
	}
	for _, e := range t.timers {
		e.cancelled = true
	}
	t.timers = nil
	if t.lockTimeout != nil {
		t.lockTimeout.cancelled = true
		t.lockTimeout = nil
	}
	s.dropWaiter(t)
	if v := s.vms[t.vmid]; v != nil {
		v.removeWaiter(t)
	}
	s.releaseLock(t, now)
}

func (s *Sim) okTask(t *task, now time.Time)               { s.finishTask(t, now, "OK") }
func (s *Sim) failTask(t *task, now time.Time, msg string) { s.finishTask(t, now, msg) }

// abortTask is what PVE::RESTEnvironment::check_worker($upid, 1) does: SIGTERM
// to the worker's process group, whose handler dies with "received
// interrupt", which becomes the exit status.
func (s *Sim) abortTask(t *task, now time.Time) {
	s.finishTask(t, now, "received interrupt")
}

// abortGuestTasks mirrors PVE::GuestHelpers::abort_guest_tasks as used by
// "stop --overrule-shutdown": all active tasks of that type for the guest on
// this node are killed.
func (s *Sim) abortGuestTasks(node, typ string, vmid int, now time.Time) []string {
	var out []string
	for _, t := range s.sortedTasks() {
		if !t.done && t.node == node && t.typ == typ && t.id == itoa(vmid) {
			s.abortTask(t, now)
			out = append(out, t.upid)
		}
	}
	return out
}

func (s *Sim) sortedTasks() []*task {
	list := make([]*task, 0, len(s.tasks))
	for _, t := range s.tasks {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].pid < list[j].pid })
	return list
}

// statusData is the read_task_status answer. Token tasks are reported with
// the user and token split, as PVE::API2::Tasks' $convert_token_task does.
func (t *task) statusData() map[string]any {
	user, tokenid, _ := strings.Cut(t.user, "!")
	d := map[string]any{
		"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.starttime,
		"type": t.typ, "id": t.id, "user": user, "status": "running",
	}
	if tokenid != "" {
		d["tokenid"] = tokenid
	}
	if t.done {
		d["status"] = "stopped"
		d["exitstatus"] = t.exit
	}
	return d
}

type stopParams struct {
	shutdown bool // ACPI powerdown (else QMP "quit")
	force    bool // kill when the timeout expires (forceStop / always for stop)
	timeout  *int // seconds, default 60
	skiplock bool
	overrule bool
}

// noSuchMachine is qemu-server's assert_config_exists_on_node (called by
// check_running inside the stop/shutdown worker, PVE 6.1 and later).
func noSuchMachine(node string, vmid int) string {
	return fmt.Sprintf("unable to find configuration file for VM %d on node '%s'", vmid, node)
}

// startVMStopTask runs qm shutdown/stop as qemu-server's vm_stop does: take
// the config lock inside the worker, then powerdown/quit and wait up to
// timeout seconds, escalating to SIGTERM/SIGKILL when forced.
func (s *Sim) startVMStopTask(node string, vmid int, typ, user string, p stopParams, fx faultEffects, now time.Time) *task {
	t := s.newTask(node, typ, itoa(vmid), user, vmid, now)
	t.failWith = fx.taskFail
	if p.overrule {
		if aborted := s.abortGuestTasks(node, "qmshutdown", vmid, now); len(aborted) > 0 {
			t.logf("overruled qmshutdown tasks: %s", strings.Join(aborted, ", "))
		}
	}
	s.lockConfig(t, fx, now, func(at time.Time) { s.vmStopLocked(t, p, at) })
	return t
}

func (s *Sim) vmStopLocked(t *task, p stopParams, now time.Time) {
	if t.failWith != "" {
		s.failTask(t, now, t.failWith)
		return
	}
	v := s.vms[t.vmid]
	if v == nil || v.spec.Node != t.node {
		s.failTask(t, now, noSuchMachine(t.node, t.vmid))
		return
	}
	if !v.running() {
		s.okTask(t, now)
		return
	}
	if !p.skiplock && v.spec.Lock != "" {
		s.failTask(t, now, fmt.Sprintf("VM is locked (%s)", v.spec.Lock))
		return
	}
	timeout := 60
	if p.timeout != nil {
		timeout = *p.timeout
	}
	if v.spec.Hang {
		// QMP does not answer: mon_cmd dies.
		if !p.force {
			s.failTask(t, now, "VM quit/powerdown failed")
			return
		}
		t.logf("VM quit/powerdown failed - terminating now with SIGTERM")
		s.hangKill(t, now)
		return
	}
	if p.shutdown {
		if !v.spec.IgnoreACPI && v.status == "running" {
			s.schedulePowerOff(v, now.Add(v.spec.ShutdownDelay))
		}
	} else {
		s.schedulePowerOff(v, now.Add(v.spec.StopDelay))
	}
	expired := func(at time.Time) {
		v.removeWaiter(t)
		if !p.force {
			s.failTask(t, at, "VM quit/powerdown failed - got timeout")
			return
		}
		t.logf("VM still running - terminating now with SIGTERM")
		if cur := s.vms[t.vmid]; cur == v && v.running() {
			s.powerOff(v, at)
		}
		s.okTask(t, at)
	}
	if timeout <= 0 {
		// while ($count < $timeout ...) never runs: timeout at once, even
		// if the guest would have been quick.
		expired(now)
		return
	}
	v.waiters = append(v.waiters, t)
	t.onVMOff = func(at time.Time) { s.okTask(t, at) }
	t.addTimer(s.schedule(now.Add(time.Duration(timeout)*s.second), expired))
}

// startVMStartTask runs qm start as qemu-server's vm_start does: take the
// config lock inside the worker, refuse a guest that already runs or whose
// config is locked, then start QEMU.
func (s *Sim) startVMStartTask(node string, vmid int, user string, skiplock bool, fx faultEffects, now time.Time) *task {
	t := s.newTask(node, "qmstart", itoa(vmid), user, vmid, now)
	t.failWith = fx.taskFail
	s.lockConfig(t, fx, now, func(at time.Time) {
		v := s.vms[vmid]
		switch {
		case t.failWith != "":
			s.failTask(t, at, t.failWith)
		case v == nil || v.spec.Node != node:
			s.failTask(t, at, noSuchMachine(node, vmid))
		case v.running():
			s.failTask(t, at, fmt.Sprintf("VM %d already running", vmid))
		case !skiplock && v.spec.Lock != "":
			s.failTask(t, at, fmt.Sprintf("VM is locked (%s)", v.spec.Lock))
		default:
			s.setVMStatus(v, "running", at)
			s.okTask(t, at)
		}
	})
	return t
}

// hangKill: after SIGTERM qemu-server waits 10s, sends SIGKILL, sleeps 1s,
// cleans up and returns — the task ends OK even though an unkillable QEMU
// (the Hang behaviour) keeps running.
func (s *Sim) hangKill(t *task, now time.Time) {
	t.addTimer(s.schedule(now.Add(10*s.second), func(at time.Time) {
		t.logf("VM still running - terminating now with SIGKILL")
		t.addTimer(s.schedule(at.Add(s.second), func(at2 time.Time) { s.okTask(t, at2) }))
	}))
}

// startHAStopTask models the 'hastop' worker: it only asks the HA stack
// ("ha-manager crm-command stop vm:<vmid> <timeout>") and ends at once; the
// HA manager then shuts the guest down (forcing it after timeout seconds,
// timeout 0 = hard stop).
func (s *Sim) startHAStopTask(node string, vmid int, user string, timeout int, shutdown bool, fx faultEffects, now time.Time) *task {
	t := s.newTask(node, "hastop", itoa(vmid), user, 0, now)
	t.logf("Requesting HA stop for VM %d", vmid)
	if fx.taskFail != "" {
		s.failTask(t, now, fx.taskFail)
		return t
	}
	s.okTask(t, now)
	v := s.vms[vmid]
	if v == nil {
		return t
	}
	v.haState = "stopped"
	if !v.running() || v.spec.Hang {
		return t
	}
	off := now.Add(v.spec.StopDelay)
	if shutdown && timeout > 0 {
		off = now.Add(time.Duration(timeout) * s.second)
		if !v.spec.IgnoreACPI && v.status == "running" && now.Add(v.spec.ShutdownDelay).Before(off) {
			off = now.Add(v.spec.ShutdownDelay)
		}
	}
	s.schedulePowerOff(v, off)
	return t
}

type destroyParams struct {
	purge        bool
	skiplock     bool
	unreferenced bool
}

func configMissing(node string, vmid int) string {
	return fmt.Sprintf("Configuration file 'nodes/%s/qemu-server/%d.conf' does not exist", node, vmid)
}

// startDestroyTask is the qmdestroy worker of destroy_vm: under the config
// lock it repeats the early checks, refuses a locked config (unless
// skiplock; 'suspended' is ignored), removes disks, optionally purges
// HA/job references and finally the config. Backup archives are not touched.
func (s *Sim) startDestroyTask(node string, vmid int, user string, p destroyParams, fx faultEffects, now time.Time) *task {
	t := s.newTask(node, "qmdestroy", itoa(vmid), user, vmid, now)
	t.failWith = fx.taskFail
	s.lockConfig(t, fx, now, func(at time.Time) {
		v := s.vms[vmid]
		if v == nil || v.spec.Node != node {
			s.failTask(t, at, configMissing(node, vmid))
			return
		}
		if msg := destroyEarlyCheck(v, p.purge); msg != "" {
			s.failTask(t, at, msg)
			return
		}
		if !p.skiplock && v.spec.Lock != "" && v.spec.Lock != "suspended" {
			s.failTask(t, at, fmt.Sprintf("VM is locked (%s)", v.spec.Lock))
			return
		}
		if t.failWith != "" {
			s.failTask(t, at, t.failWith)
			return
		}
		// The config is left as is while disks are freed (the worker only
		// holds the flock); qemu-server writes the {lock => 'destroyed'}
		// replacement config after the disks are gone and removes it at the
		// very end, which is instantaneous here.
		finish := func(end time.Time) {
			s.removeVMVolumes(v, p.unreferenced, t)
			if p.purge {
				t.logf("purging VM %d from related configurations..", vmid)
				if v.spec.HA {
					t.logf("NOTE: removed VM %d from HA resource configuration.", vmid)
				}
			}
			delete(s.vms, vmid)
			s.okTask(t, end)
		}
		if s.destroyDuration > 0 {
			t.addTimer(s.schedule(at.Add(s.destroyDuration), finish))
			return
		}
		finish(at)
	})
	return t
}

// destroyEarlyCheck is $early_checks of destroy_vm (config existence is
// checked by the caller).
func destroyEarlyCheck(v *vm, purge bool) string {
	vmid := v.spec.VMID
	if v.spec.Protection {
		return fmt.Sprintf("can't remove VM %d - protection mode enabled", vmid)
	}
	if v.spec.HA && !purge {
		return fmt.Sprintf("unable to remove VM %d - used in HA resources and purge parameter not set.", vmid)
	}
	if v.running() {
		return fmt.Sprintf("VM %d is running - destroy failed", vmid)
	}
	return ""
}

func (s *Sim) removeVMVolumes(v *vm, unreferenced bool, t *task) {
	ref := map[string]bool{}
	for _, d := range v.spec.Disks {
		ref[d] = true
	}
	for k, vol := range s.volumes {
		if vol.content != "images" || vol.vmid != v.spec.VMID {
			continue
		}
		if !ref[vol.volid] && !unreferenced {
			continue
		}
		if vol.node != "" && vol.node != v.spec.Node {
			continue
		}
		delete(s.volumes, k)
		t.logf("Removed volume '%s'", vol.volid)
	}
}

// startImgDelTask is the imgdel worker of DELETE .../content/{volume}
// (PVE/API2/Storage/Content.pm): vdisk_free in a worker, so errors such as
// a protected backup surface as the task's exit status.
func (s *Sim) startImgDelTask(node string, def *storageDef, volid string, ownerVMID int, user string, fx faultEffects, now time.Time) *task {
	id := def.ID
	if ownerVMID > 0 {
		id = itoa(ownerVMID) + "@" + def.ID
	}
	t := s.newTask(node, "imgdel", id, user, 0, now)
	t.failWith = fx.taskFail
	t.addTimer(s.schedule(now.Add(s.imgdelDuration), func(at time.Time) {
		if t.failWith != "" {
			s.failTask(t, at, t.failWith)
			return
		}
		if !s.storageOnNode(def, node) {
			s.failTask(t, at, fmt.Sprintf("storage '%s' is not available on node '%s'", def.ID, node))
			return
		}
		_, volname, _ := strings.Cut(volid, ":")
		key := volKey{storage: def.ID, node: def.scopeNode(node), volid: volid}
		vol := s.volumes[key]
		if vol == nil {
			if def.Type == "pbs" {
				// Guess: proxmox-backup-client forget on a missing snapshot.
				s.failTask(t, at, fmt.Sprintf("unable to find snapshot '%s'", strings.TrimPrefix(volname, "backup/")))
				return
			}
			// PVE::Storage::Plugin::free_image only warns for a missing file.
			t.logf("disk image '%s' does not exist", volumePath(def, node, volname))
			s.okTask(t, at)
			return
		}
		if vol.protected {
			if def.Type == "pbs" {
				// Guess: error text of a PBS forget on a protected snapshot.
				s.failTask(t, at, fmt.Sprintf("removing backup snapshot '%s' failed - backup is protected", strings.TrimPrefix(volname, "backup/")))
				return
			}
			s.failTask(t, at, fmt.Sprintf("cannot remove protected volume '%s' on '%s'", volname, def.ID))
			return
		}
		delete(s.volumes, key)
		t.logf("Removed volume '%s'", volid)
		s.okTask(t, at)
	}))
	return t
}

func volumePath(def *storageDef, node, volname string) string {
	switch def.Type {
	case "pbs":
		return "pbs://" + def.ID + "/" + strings.TrimPrefix(volname, "backup/")
	case "dir":
		if def.ID == "local" {
			return "/var/lib/vz/dump/" + strings.TrimPrefix(volname, "backup/")
		}
	}
	return "/mnt/pve/" + def.ID + "/dump/" + strings.TrimPrefix(volname, "backup/")
}
