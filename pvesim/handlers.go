package pvesim

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// hctx is the context a route handler runs in (Sim mutex held, parameters
// already verified against the schema).
type hctx struct {
	s      *Sim
	now    time.Time
	route  Route
	params map[string]pval
	uri    map[string]string
	user   string // authenticated token ID, e.g. root@pam!terminate
	rc     reqCtx
}

func (c *hctx) str(name string) string {
	if v, ok := c.params[name]; ok && v.Kind != pvNull {
		return v.S
	}
	return ""
}

func (c *hctx) has(name string) bool {
	v, ok := c.params[name]
	return ok && v.Kind != pvNull
}

// flag is a verified boolean: "1" (or JSON true) is set.
func (c *hctx) flag(name string) bool { return c.str(name) == "1" }

func (c *hctx) intp(name string) *int {
	if !c.has(name) {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(c.str(name), "+"))
	if err != nil {
		return nil
	}
	return &n
}

func (c *hctx) vmid() int { n, _ := strconv.Atoi(c.uri["vmid"]); return n }

// rootOnly mirrors qemu-server's raise_param_exc({ $p => "Only root may use
// this option." }) if $value && $authuser ne 'root@pam'. Note that an API
// token's user is the token ID ("root@pam!terminate"), never 'root@pam'.
func (c *hctx) rootOnly(names ...string) error {
	for _, n := range names {
		if c.str(n) != "" && c.str(n) != "0" && c.user != "root@pam" {
			return paramErr(map[string]string{n: "Only root may use this option."})
		}
	}
	return nil
}

type handlerFunc func(c *hctx) (any, error)

var handlers map[Route]handlerFunc

func init() {
	handlers = map[Route]handlerFunc{
		{"GET", "/version"}:                                            hVersion,
		{"GET", "/cluster/resources"}:                                  hClusterResources,
		{"GET", "/cluster/status"}:                                     hClusterStatus,
		{"GET", "/nodes"}:                                              hNodes,
		{"GET", "/nodes/{node}/status"}:                                hNodeStatus,
		{"GET", "/nodes/{node}/qemu"}:                                  hQemuList,
		{"GET", "/nodes/{node}/qemu/{vmid}"}:                           hVMDirIndex,
		{"DELETE", "/nodes/{node}/qemu/{vmid}"}:                        hVMDestroy,
		{"GET", "/nodes/{node}/qemu/{vmid}/config"}:                    hVMConfig,
		{"GET", "/nodes/{node}/qemu/{vmid}/status"}:                    hVMCmdIndex,
		{"GET", "/nodes/{node}/qemu/{vmid}/status/current"}:            hVMStatus,
		{"POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"}:          hVMShutdown,
		{"POST", "/nodes/{node}/qemu/{vmid}/status/start"}:             hVMStart,
		{"POST", "/nodes/{node}/qemu/{vmid}/status/stop"}:              hVMStop,
		{"GET", "/nodes/{node}/storage"}:                               hStorageList,
		{"GET", "/nodes/{node}/storage/{storage}/status"}:              hStorageStatus,
		{"GET", "/nodes/{node}/storage/{storage}/content"}:             hContentList,
		{"GET", "/nodes/{node}/storage/{storage}/content/{volume}"}:    hContentInfo,
		{"DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"}: hContentDelete,
		{"GET", "/nodes/{node}/tasks"}:                                 hTaskList,
		{"GET", "/nodes/{node}/tasks/{upid}"}:                          hTaskIndex,
		{"DELETE", "/nodes/{node}/tasks/{upid}"}:                       hTaskStop,
		{"GET", "/nodes/{node}/tasks/{upid}/status"}:                   hTaskStatus,
		{"GET", "/nodes/{node}/tasks/{upid}/log"}:                      hTaskLog,
	}
}

// versions of pve-manager per release; the numbers are plausible point
// releases (7.4-17 and 8.2.4 did exist), repoids are illustrative.
var releaseVersions = map[string][2]string{
	"7.4": {"7.4-17", "513c62be"},
	"8.2": {"8.2.4", "faa83925c9641325"},
}

func versionOf(rel string) (string, string) {
	if v, ok := releaseVersions[rel]; ok {
		return v[0], v[1]
	}
	if releaseLess(rel, "8.0") {
		return rel + "-1", "0badc0de"
	}
	return rel + ".0", "0badc0de0badc0de"
}

func hVersion(c *hctx) (any, error) {
	v, repo := versionOf(c.s.release)
	return map[string]any{"version": v, "release": c.s.release, "repoid": repo}, nil
}

const (
	nodeMaxMem  = int64(64) << 30
	nodeMaxDisk = int64(100) << 30
)

func (s *Sim) sortedVMs() []*vm {
	list := make([]*vm, 0, len(s.vms))
	for _, v := range s.vms {
		list = append(list, v)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].spec.VMID < list[j].spec.VMID })
	return list
}

func (s *Sim) nodeOnline(name string) bool {
	n := s.node(name)
	return n != nil && n.online
}

func (v *vm) maxDisk() int64 {
	if len(v.spec.Disks) == 0 {
		return 0
	}
	return 32 << 30
}

// hClusterResources: PVE::API2::Cluster resources — guests first, then
// nodes, then storages. Guests on an offline node are reported with status
// "unknown" (guess: their RRD data is stale there).
func hClusterResources(c *hctx) (any, error) {
	s := c.s
	typ := c.str("type")
	res := []map[string]any{}
	if typ == "" || typ == "vm" {
		for _, v := range s.sortedVMs() {
			e := map[string]any{
				"id": fmt.Sprintf("qemu/%d", v.spec.VMID), "type": "qemu", "vmid": v.spec.VMID,
				"node": v.spec.Node, "name": v.spec.Name, "template": 0,
				"maxcpu": v.spec.Cores, "maxmem": int64(v.spec.MemoryMiB) << 20, "maxdisk": v.maxDisk(),
			}
			if s.nodeOnline(v.spec.Node) {
				// pvestatd stores qmpstatus || status: a paused guest is "paused".
				st := "stopped"
				if v.running() {
					st = "running"
				}
				if v.status == "paused" {
					st = "paused"
				}
				e["status"] = st
				e["disk"], e["diskread"], e["diskwrite"], e["netin"], e["netout"] = 0, 0, 0, 0, 0
				e["cpu"], e["mem"], e["uptime"] = 0, 0, 0
				if v.running() {
					e["cpu"] = 0.0123
					e["mem"] = (int64(v.spec.MemoryMiB) << 20) / 2
					e["uptime"] = int64(c.now.Sub(v.startedAt).Seconds())
				}
			} else {
				e["status"] = "unknown"
			}
			if len(v.spec.Tags) > 0 {
				e["tags"] = joinTags(v.spec.Tags)
			}
			if v.spec.Lock != "" {
				e["lock"] = v.spec.Lock
			}
			if v.haState != "" {
				e["hastate"] = v.haState
			}
			res = append(res, e)
		}
	}
	if typ == "" || typ == "node" {
		for _, n := range s.nodes {
			e := map[string]any{"id": "node/" + n.name, "type": "node", "node": n.name, "status": "offline"}
			if n.online {
				e["status"] = "online"
				e["level"] = ""
				e["cgroup-mode"] = 2
				e["maxcpu"], e["cpu"] = 8, 0.031
				e["maxmem"], e["mem"] = nodeMaxMem, nodeMaxMem/4
				e["maxdisk"], e["disk"] = nodeMaxDisk, nodeMaxDisk/5
				e["uptime"] = 864000
			}
			res = append(res, e)
		}
	}
	if typ == "" || typ == "storage" {
		for _, n := range s.nodes {
			for _, d := range s.sortedStorages() {
				if !s.storageOnNode(d, n.name) {
					continue
				}
				e := map[string]any{
					"id": "storage/" + n.name + "/" + d.ID, "type": "storage", "storage": d.ID, "node": n.name,
					"content": d.contentString(), "plugintype": d.Type, "shared": b2i(d.shared()), "status": "available",
				}
				if !n.online {
					e["status"] = "unknown"
				} else {
					total, used := d.capacity()
					e["maxdisk"], e["disk"] = total, used
				}
				res = append(res, e)
			}
		}
	}
	return res, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (d *storageDef) capacity() (int64, int64) {
	total, used := d.Total, d.Used
	if total == 0 {
		total = 1 << 40
	}
	if used == 0 {
		used = total / 10
	}
	return total, used
}

func (s *Sim) sortedStorages() []*storageDef {
	list := append([]*storageDef(nil), s.storages...)
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list
}

func hClusterStatus(c *hctx) (any, error) {
	s := c.s
	online := 0
	for _, n := range s.nodes {
		if n.online {
			online++
		}
	}
	res := []map[string]any{{
		"type": "cluster", "id": "cluster", "name": "pvesim", "nodes": len(s.nodes),
		"quorate": b2i(online*2 > len(s.nodes)), "version": len(s.nodes) + 2,
	}}
	for i, n := range s.nodes {
		res = append(res, map[string]any{
			"type": "node", "id": "node/" + n.name, "name": n.name, "nodeid": i + 1,
			"ip": fmt.Sprintf("192.0.2.%d", 11+i), "online": b2i(n.online), "local": b2i(i == 0), "level": "",
		})
	}
	return res, nil
}

func hNodes(c *hctx) (any, error) {
	s := c.s
	res := []map[string]any{}
	for _, n := range s.nodes {
		e := map[string]any{"node": n.name, "id": "node/" + n.name, "type": "node", "status": "offline"}
		if n.online {
			e["status"] = "online"
			e["level"] = ""
			e["maxcpu"], e["cpu"] = 8, 0.031
			e["maxmem"], e["mem"] = nodeMaxMem, nodeMaxMem/4
			e["maxdisk"], e["disk"] = nodeMaxDisk, nodeMaxDisk/5
			e["uptime"] = 864000
			e["ssl_fingerprint"] = s.fingerprint
			if s.fingerprint == "" {
				e["ssl_fingerprint"] = FingerprintSHA256([]byte("pvesim-node-" + n.name))
			}
		}
		res = append(res, e)
	}
	return res, nil
}

func hNodeStatus(c *hctx) (any, error) {
	v, repo := versionOf(c.s.release)
	kernel := "6.8.8-2-pve"
	if releaseLess(c.s.release, "8.0") {
		kernel = "5.15.143-1-pve"
	}
	return map[string]any{
		"uptime": 864000, "cpu": 0.031, "wait": 0.0004, "idle": 0,
		"loadavg":    []string{"0.21", "0.18", "0.15"},
		"memory":     map[string]any{"total": nodeMaxMem, "used": nodeMaxMem / 4, "free": nodeMaxMem - nodeMaxMem/4},
		"swap":       map[string]any{"total": 8 << 30, "used": 0, "free": 8 << 30},
		"rootfs":     map[string]any{"total": nodeMaxDisk, "used": nodeMaxDisk / 5, "free": nodeMaxDisk - nodeMaxDisk/5, "avail": nodeMaxDisk - nodeMaxDisk/5},
		"ksm":        map[string]any{"shared": 0},
		"cpuinfo":    map[string]any{"cpus": 8, "cores": 8, "sockets": 1, "model": "QEMU Virtual CPU (simulated)", "mhz": "2400.000", "hvm": "1", "user_hz": 100, "flags": "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 vmx"},
		"pveversion": fmt.Sprintf("pve-manager/%s/%s", v, repo),
		"kversion":   "Linux " + kernel + " #1 SMP PREEMPT_DYNAMIC PMX",
		"current-kernel": map[string]any{
			"sysname": "Linux", "release": kernel, "machine": "x86_64", "version": "#1 SMP PREEMPT_DYNAMIC PMX",
		},
		"boot-info": map[string]any{"mode": "efi", "secureboot": 0},
	}, nil
}

// vmOnNode is PVE::QemuConfig->load_config($vmid) on the node the request
// was proxied to.
func (c *hctx) vmOnNode() (*vm, error) {
	node, vmid := c.uri["node"], c.vmid()
	v := c.s.vms[vmid]
	if v == nil || v.spec.Node != node {
		return nil, errf("%s", configMissing(node, vmid))
	}
	return v, nil
}

func hQemuList(c *hctx) (any, error) {
	node := c.uri["node"]
	res := []map[string]any{}
	for _, v := range c.s.sortedVMs() {
		if v.spec.Node != node {
			continue
		}
		e := vmStatusBase(v, c.now)
		if !c.flag("full") {
			delete(e, "qmpstatus")
			delete(e, "running-machine")
			delete(e, "running-qemu")
		}
		res = append(res, e)
	}
	return res, nil
}

func vmStatusBase(v *vm, now time.Time) map[string]any {
	st := "stopped"
	if v.running() {
		st = "running"
	}
	e := map[string]any{
		"vmid": v.spec.VMID, "name": v.spec.Name, "status": st, "qmpstatus": v.status,
		"cpus": v.spec.Cores, "maxmem": int64(v.spec.MemoryMiB) << 20, "maxdisk": v.maxDisk(),
		"cpu": 0, "mem": 0, "disk": 0, "uptime": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
	}
	if v.running() {
		e["pid"] = v.pid
		e["uptime"] = int64(now.Sub(v.startedAt).Seconds())
		e["cpu"] = 0.0123
		e["mem"] = (int64(v.spec.MemoryMiB) << 20) / 2
		e["running-machine"] = "pc-i440fx-8.1+pve0"
		e["running-qemu"] = "8.1.5"
	}
	if len(v.spec.Tags) > 0 {
		e["tags"] = joinTags(v.spec.Tags)
	}
	if v.spec.Lock != "" {
		e["lock"] = v.spec.Lock
	}
	return e
}

func hVMStatus(c *hctx) (any, error) {
	v, err := c.vmOnNode()
	if err != nil {
		return nil, err
	}
	e := vmStatusBase(v, c.now)
	if v.spec.HA {
		e["ha"] = map[string]any{"managed": 1, "state": v.haState}
	} else {
		e["ha"] = map[string]any{"managed": 0}
	}
	return e, nil
}

func hVMConfig(c *hctx) (any, error) {
	v, err := c.vmOnNode()
	if err != nil {
		return nil, err
	}
	if snap := c.str("snapshot"); snap != "" {
		// Guess: text of the missing-snapshot error.
		return nil, errf("snapshot '%s' does not exist", snap)
	}
	return v.config(), nil
}

func hVMDirIndex(c *hctx) (any, error) {
	if _, err := c.vmOnNode(); err != nil {
		return nil, err
	}
	var res []map[string]any
	for _, d := range []string{"config", "pending", "status", "unlink", "vncproxy", "termproxy", "migrate", "resize",
		"move", "rrd", "rrddata", "monitor", "agent", "snapshot", "spiceproxy", "sendkey", "firewall", "mtunnel",
		"remote_migrate"} {
		res = append(res, map[string]any{"subdir": d})
	}
	return res, nil
}

func hVMCmdIndex(c *hctx) (any, error) {
	if _, err := c.vmOnNode(); err != nil {
		return nil, err
	}
	var res []map[string]any
	for _, d := range []string{"current", "start", "stop", "reset", "shutdown", "suspend", "reboot"} {
		res = append(res, map[string]any{"subdir": d})
	}
	return res, nil
}

// hVMShutdown is vm_shutdown of PVE/API2/Qemu.pm: root-only options, the
// synchronous paused check, HA requests, else a qmshutdown worker.
func hVMShutdown(c *hctx) (any, error) {
	if err := c.rootOnly("skiplock", "keepActive"); err != nil {
		return nil, err
	}
	s, node, vmid := c.s, c.uri["node"], c.vmid()
	v := s.vms[vmid]
	if v != nil && v.spec.Node != node {
		v = nil
	}
	shutdown := true
	if v != nil && v.status == "paused" {
		if !c.flag("forceStop") {
			return nil, errf("VM is paused - cannot shutdown")
		}
		shutdown = false // "VM is paused - stop instead of shutdown"
	}
	fx := s.taskFaults(c.rc, false)
	if v != nil && v.spec.HA {
		timeout := 60
		if p := c.intp("timeout"); p != nil {
			timeout = *p
		}
		return s.startHAStopTask(node, vmid, c.user, timeout, true, fx, c.now).upid, nil
	}
	p := stopParams{shutdown: shutdown, force: c.flag("forceStop") || !shutdown, timeout: c.intp("timeout"), skiplock: c.flag("skiplock")}
	return s.startVMStopTask(node, vmid, "qmshutdown", c.user, p, fx, c.now).upid, nil
}

// hVMStart is vm_start of PVE/API2/Qemu.pm: root-only options, the
// synchronous config check, HA requests (an 'hastart' worker that asks the
// HA stack), else a qmstart worker: config lock, "already running", the
// config's lock, then the guest runs.
func hVMStart(c *hctx) (any, error) {
	if err := c.rootOnly("skiplock", "stateuri", "migratedfrom", "migration_type", "migration_network", "targetstorage", "force-cpu", "nets-host-mtu"); err != nil {
		return nil, err
	}
	v, err := c.vmOnNode()
	if err != nil {
		return nil, err
	}
	s := c.s
	fx := s.taskFaults(c.rc, false)
	if v.spec.HA && !c.has("migratedfrom") {
		t := s.newTask(v.spec.Node, "hastart", itoa(v.spec.VMID), c.user, 0, c.now)
		t.failWith = fx.taskFail
		if t.failWith != "" {
			s.failTask(t, c.now, t.failWith)
			return t.upid, nil
		}
		if !v.running() {
			s.setVMStatus(v, "running", c.now)
			v.haState = haStateFor("running")
		}
		s.okTask(t, c.now)
		return t.upid, nil
	}
	return s.startVMStartTask(v.spec.Node, v.spec.VMID, c.user, c.flag("skiplock"), fx, c.now).upid, nil
}

// hVMStop is vm_stop: root-only options, HA requests (overrule-shutdown is
// refused for HA resources), else a qmstop worker that first aborts running
// qmshutdown tasks when overrule-shutdown is set.
func hVMStop(c *hctx) (any, error) {
	if err := c.rootOnly("skiplock", "keepActive", "migratedfrom"); err != nil {
		return nil, err
	}
	s, node, vmid := c.s, c.uri["node"], c.vmid()
	overrule := c.flag("overrule-shutdown")
	v := s.vms[vmid]
	if v != nil && v.spec.Node == node && v.spec.HA && !c.has("migratedfrom") {
		if overrule {
			// Text from pve-container's vm_stop (same patch series); assumed
			// identical in qemu-server.
			return nil, paramErr(map[string]string{"overrule-shutdown": "Not applicable for HA resources."})
		}
		fx := s.taskFaults(c.rc, false)
		return s.startHAStopTask(node, vmid, c.user, 0, false, fx, c.now).upid, nil
	}
	fx := s.taskFaults(c.rc, false)
	p := stopParams{shutdown: false, force: true, timeout: c.intp("timeout"), skiplock: c.flag("skiplock"), overrule: overrule}
	return s.startVMStopTask(node, vmid, "qmstop", c.user, p, fx, c.now).upid, nil
}

// hVMDestroy is destroy_vm: synchronous early checks in qemu-server's order
// (config exists, protection, HA without purge, running), then qmdestroy.
func hVMDestroy(c *hctx) (any, error) {
	if err := c.rootOnly("skiplock"); err != nil {
		return nil, err
	}
	v, err := c.vmOnNode()
	if err != nil {
		return nil, err
	}
	purge := c.flag("purge")
	if msg := destroyEarlyCheck(v, purge); msg != "" {
		return nil, errf("%s", msg)
	}
	fx := c.s.taskFaults(c.rc, true)
	p := destroyParams{purge: purge, skiplock: c.flag("skiplock"), unreferenced: c.flag("destroy-unreferenced-disks")}
	return c.s.startDestroyTask(c.uri["node"], v.spec.VMID, c.user, p, fx, c.now).upid, nil
}

func hStorageList(c *hctx) (any, error) {
	s, node := c.s, c.uri["node"]
	var want []string
	if ct := c.str("content"); ct != "" {
		for _, x := range reListSplit.Split(ct, -1) {
			if x != "" {
				want = append(want, x)
			}
		}
	}
	// storage_info: storages of this node supporting the content filter.
	var info []*storageDef
	for _, d := range s.sortedStorages() {
		if !s.storageOnNode(d, node) {
			continue
		}
		if len(want) > 0 {
			ok := false
			for _, w := range want {
				if d.hasContent(w) {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		info = append(info, d)
	}
	id := c.str("storage")
	if id != "" {
		found := false
		for _, d := range info {
			found = found || d.ID == id
		}
		if !found {
			return nil, paramErr(map[string]string{"storage": "No such storage."})
		}
	}
	target := c.str("target")
	res := []map[string]any{}
	for _, d := range info {
		if id != "" && id != d.ID {
			continue
		}
		if c.flag("enabled") && d.Disabled {
			continue
		}
		if target != "" && target != node && (!d.shared() || !s.storageOnNode(d, target)) {
			continue
		}
		res = append(res, s.storageStatus(d, c.flag("format")))
	}
	return res, nil
}

func (s *Sim) storageStatus(d *storageDef, withFormat bool) map[string]any {
	total, used := d.capacity()
	e := map[string]any{
		"storage": d.ID, "type": d.Type, "content": d.contentString(), "shared": b2i(d.shared()),
		"enabled": b2i(!d.Disabled), "active": b2i(!d.Disabled),
	}
	if !d.Disabled {
		e["total"], e["used"], e["avail"] = total, used, total-used
		e["used_fraction"] = float64(used) / float64(total)
	}
	if withFormat && (d.hasContent("images") || d.hasContent("rootdir")) {
		def := "raw"
		supported := []string{"raw"}
		if d.Type == "dir" || d.Type == "nfs" || d.Type == "cifs" {
			def = "qcow2"
			supported = []string{"raw", "qcow2", "vmdk"}
		}
		e["formats"] = map[string]any{"default": def, "supported": supported}
		e["select_existing"] = 0
	}
	return e
}

func hStorageStatus(c *hctx) (any, error) {
	d := c.s.storage(c.uri["storage"])
	if d == nil || !c.s.storageOnNode(d, c.uri["node"]) {
		return nil, paramErr(map[string]string{"storage": "No such storage."})
	}
	e := c.s.storageStatus(d, false)
	delete(e, "storage")
	delete(e, "used_fraction")
	return e, nil
}

// storageForVolumes is PVE::Storage::storage_config + activate_storage.
func (c *hctx) storageForVolumes(id string) (*storageDef, error) {
	d := c.s.storage(id)
	if d == nil {
		return nil, errf("storage '%s' does not exist", id)
	}
	if !c.s.storageOnNode(d, c.uri["node"]) {
		return nil, errf("storage '%s' is not available on node '%s'", id, c.uri["node"])
	}
	if d.Disabled {
		return nil, errf("storage '%s' is disabled", id)
	}
	return d, nil
}

func (s *Sim) volumesOn(d *storageDef, node string) []*volume {
	scope := d.scopeNode(node)
	var out []*volume
	for k, v := range s.volumes {
		if k.storage == d.ID && k.node == scope {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].volid) < strings.ToLower(out[j].volid) })
	return out
}

func volumeEntry(v *volume) map[string]any {
	e := map[string]any{"volid": v.volid, "content": v.content, "format": v.format, "size": v.size}
	if v.vmid > 0 {
		e["vmid"] = v.vmid
	}
	if v.ctime > 0 {
		e["ctime"] = v.ctime
	}
	if v.content == "backup" {
		e["subtype"] = v.subtype
		if v.protected {
			e["protected"] = 1
		}
		if v.notes != "" {
			e["notes"] = firstLine(v.notes)
		}
	}
	return e
}

func hContentList(c *hctx) (any, error) {
	d, err := c.storageForVolumes(c.uri["storage"])
	if err != nil {
		return nil, err
	}
	vmidFilter := 0
	if p := c.intp("vmid"); p != nil {
		vmidFilter = *p
	}
	ct := c.str("content")
	res := []map[string]any{}
	for _, v := range c.s.volumesOn(d, c.uri["node"]) {
		if !d.hasContent(v.content) || (ct != "" && v.content != ct) || (vmidFilter != 0 && v.vmid != vmidFilter) {
			continue
		}
		res = append(res, volumeEntry(v))
	}
	return res, nil
}

var reVolumeID = regexp.MustCompile(`(?i)^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$`)

// realVolumeID is $real_volume_id of PVE/API2/Storage/Content.pm: a full
// volume ID must belong to the storage of the URL, a bare name is prefixed
// with it.
func realVolumeID(storeid, volume string) (string, string, error) {
	if strings.Contains(volume, ":") {
		m := reVolumeID.FindStringSubmatch(volume)
		if m == nil {
			return "", "", paramErr(map[string]string{"volume": fmt.Sprintf("unable to parse volume ID '%s'\n", volume)})
		}
		if storeid != "" && m[1] != storeid {
			return "", "", paramErr(map[string]string{"volume": fmt.Sprintf("storage ID mismatch (%s != %s)\n", m[1], storeid)})
		}
		return volume, m[1], nil
	}
	return storeid + ":" + volume, storeid, nil
}

var reImageVolname = regexp.MustCompile(`^(?:(\d+)/)?(?:base|vm|subvol)-(\d+)-[^/]+$`)

// volumeOwner is the owner VMID PVE::Storage::path/parse_volname derive.
func volumeOwner(d *storageDef, volname string) (int, error) {
	if strings.HasPrefix(volname, "backup/") {
		vmid, _, _, _, err := parseBackupVolname(d.Type, volname)
		return vmid, err
	}
	if m := reImageVolname.FindStringSubmatch(volname); m != nil {
		n, _ := strconv.Atoi(m[2])
		return n, nil
	}
	if d.Type == "pbs" {
		return 0, fmt.Errorf("unable to parse PBS volume name '%s'", volname)
	}
	return 0, fmt.Errorf("unable to parse directory volume name '%s'", volname)
}

func hContentInfo(c *hctx) (any, error) {
	volid, storeid, err := realVolumeID(c.uri["storage"], c.uri["volume"])
	if err != nil {
		return nil, err
	}
	d, err := c.storageForVolumes(storeid)
	if err != nil {
		return nil, err
	}
	_, volname, _ := strings.Cut(volid, ":")
	if _, err := volumeOwner(d, volname); err != nil {
		return nil, errf("%s", err.Error())
	}
	v := c.s.volumes[volKey{storage: d.ID, node: d.scopeNode(c.uri["node"]), volid: volid}]
	if v == nil {
		// Guess: the real error comes from volume_size_info on a missing file.
		return nil, errf("volume '%s' does not exist", volid)
	}
	e := map[string]any{"path": volumePath(d, c.uri["node"], volname), "size": v.size, "used": v.size, "format": v.format}
	if v.content == "backup" {
		e["protected"] = b2i(v.protected)
		if v.notes != "" {
			e["notes"] = v.notes
		}
	}
	return e, nil
}

// hContentDelete: DELETE .../content/{volume} starts an imgdel worker
// (synchronous part: volume ID and storage checks); with "delay" it waits up
// to that many seconds and returns null on success or dies with the task's
// error.
func hContentDelete(c *hctx) (any, error) {
	volid, storeid, err := realVolumeID(c.uri["storage"], c.uri["volume"])
	if err != nil {
		return nil, err
	}
	d := c.s.storage(storeid)
	if d == nil {
		return nil, errf("storage '%s' does not exist", storeid)
	}
	_, volname, _ := strings.Cut(volid, ":")
	owner, err := volumeOwner(d, volname)
	if err != nil {
		return nil, errf("%s", err.Error())
	}
	rc := c.rc
	if rc.vmid == 0 {
		rc.vmid = owner
	}
	fx := c.s.taskFaults(rc, true)
	t := c.s.startImgDelTask(c.uri["node"], d, volid, owner, c.user, fx, c.now)
	if p := c.intp("delay"); p != nil && *p > 0 {
		return deferredTask{t: t, until: c.now.Add(time.Duration(*p) * c.s.second)}, nil
	}
	return t.upid, nil
}

func (c *hctx) taskByUPID() (*task, error) {
	upid := c.uri["upid"]
	if !reUPID.MatchString(upid) {
		return nil, paramErr(map[string]string{"upid": "unable to parse worker upid"})
	}
	t := c.s.tasks[upid]
	if t == nil || t.node != c.uri["node"] {
		return nil, paramErr(map[string]string{"upid": "no such task"})
	}
	return t, nil
}

func hTaskStatus(c *hctx) (any, error) {
	t, err := c.taskByUPID()
	if err != nil {
		return nil, err
	}
	return t.statusData(), nil
}

func hTaskIndex(c *hctx) (any, error) {
	return []map[string]any{{"name": "log"}, {"name": "status"}}, nil
}

func hTaskLog(c *hctx) (any, error) {
	t, err := c.taskByUPID()
	if err != nil {
		return nil, err
	}
	start, limit := 0, 50
	if p := c.intp("start"); p != nil {
		start = *p
	}
	if p := c.intp("limit"); p != nil {
		limit = *p
	}
	lines := t.log
	if len(lines) == 0 {
		lines = []string{"no content"}
	}
	// limit=0 reads the whole log (pve-common dump_logfile, 7.3-1 and later).
	all := limit == 0
	res := []map[string]any{}
	for i := start; i < len(lines) && (all || len(res) < limit); i++ {
		res = append(res, map[string]any{"n": i + 1, "t": lines[i]})
	}
	return withTotal{data: res, total: len(lines)}, nil
}

// hTaskStop: stop_task sends SIGTERM to a running worker (check_worker); the
// worker dies with "received interrupt".
func hTaskStop(c *hctx) (any, error) {
	t, err := c.taskByUPID()
	if err != nil {
		return nil, err
	}
	if !t.done {
		c.s.abortTask(t, c.now)
	}
	return nil, nil
}

func hTaskList(c *hctx) (any, error) {
	node := c.uri["node"]
	source := c.str("source")
	if source == "" {
		source = "archive"
	}
	start, limit := 0, 50
	if p := c.intp("start"); p != nil {
		start = *p
	}
	if p := c.intp("limit"); p != nil {
		limit = *p
	}
	vmidFilter := c.str("vmid")
	list := c.s.sortedTasks()
	res := []map[string]any{}
	count := 0
	for i := len(list) - 1; i >= 0; i-- {
		t := list[i]
		if t.node != node {
			continue
		}
		if (source == "archive" && !t.done) || (source == "active" && t.done) {
			continue
		}
		if tf := c.str("typefilter"); tf != "" && t.typ != tf {
			continue
		}
		if uf := c.str("userfilter"); uf != "" && !strings.Contains(strings.ToLower(t.user), strings.ToLower(uf)) {
			continue
		}
		if vmidFilter != "" && t.id != vmidFilter {
			continue
		}
		if c.flag("errors") && t.done && t.exit == "OK" {
			continue
		}
		if p := c.intp("since"); p != nil && t.starttime < int64(*p) {
			continue
		}
		if p := c.intp("until"); p != nil && t.starttime > int64(*p) {
			continue
		}
		count++
		if count <= start || len(res) >= limit {
			continue
		}
		e := t.statusData()
		delete(e, "exitstatus")
		if t.done {
			e["status"] = t.exit
			e["endtime"] = t.endtime
		} else {
			e["status"] = "RUNNING"
		}
		res = append(res, e)
	}
	return withTotal{data: res, total: count}, nil
}
