package pvesim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type nodeState struct {
	name   string
	online bool
}

type storageDef struct {
	ID       string
	Type     string   // dir, nfs, cifs, pbs, lvmthin, zfspool, rbd, ...
	Content  []string // backup, images, iso, ...
	Shared   bool
	Nodes    []string // empty: all nodes
	Disabled bool
	Total    int64
	Used     int64
}

// sharedType reports storage types PVE always treats as shared.
func (d *storageDef) shared() bool {
	if d.Shared {
		return true
	}
	switch d.Type {
	case "pbs", "rbd", "cephfs", "glusterfs", "iscsi", "iscsidirect":
		return true
	}
	return false
}

func (d *storageDef) hasContent(ct string) bool {
	for _, c := range d.Content {
		if c == ct {
			return true
		}
	}
	return false
}

func (d *storageDef) contentString() string {
	c := append([]string(nil), d.Content...)
	sort.Strings(c)
	return strings.Join(c, ",")
}

// scopeNode is the node a volume on this storage lives on: "" for shared
// storages (one namespace cluster-wide), otherwise the node itself — a
// non-shared "local" storage is a different directory on every node.
func (d *storageDef) scopeNode(node string) string {
	if d.shared() {
		return ""
	}
	return node
}

type volKey struct {
	storage string
	node    string // "" for shared storages
	volid   string
}

type volume struct {
	storage   string
	node      string
	volid     string
	content   string // backup | images
	format    string
	size      int64
	ctime     int64
	vmid      int
	protected bool
	notes     string
	subtype   string // qemu | lxc (backups)
}

type vm struct {
	spec      VMSpec
	status    string // running | stopped | paused
	startedAt time.Time
	pid       int
	haState   string
	offEvent  *event  // pending power-off (ACPI shutdown in progress or QEMU exiting)
	waiters   []*task // tasks waiting for the VM to be off
}

func haStateFor(status string) string {
	if status == "stopped" {
		return "stopped"
	}
	return "started"
}

func (v *vm) running() bool { return v.status == "running" || v.status == "paused" }

func (v *vm) state(now time.Time) VMState {
	spec := v.spec
	spec.Tags = append([]string(nil), v.spec.Tags...)
	spec.Disks = append([]string(nil), v.spec.Disks...)
	spec.Status = v.status
	st := VMState{VMSpec: spec, HAState: v.haState, PID: v.pid, QMPStatus: v.status}
	if v.running() {
		st.Uptime = now.Sub(v.startedAt)
	}
	return st
}

func (s *Sim) node(name string) *nodeState {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func (s *Sim) storage(id string) *storageDef {
	for _, d := range s.storages {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (s *Sim) storageOnNode(d *storageDef, node string) bool {
	if s.node(node) == nil {
		return false
	}
	if len(d.Nodes) == 0 {
		return true
	}
	for _, n := range d.Nodes {
		if n == node {
			return true
		}
	}
	return false
}

func (s *Sim) newPID() int {
	s.nextPID += 7
	return s.nextPID
}

func (s *Sim) addVMLocked(spec VMSpec) error {
	if spec.VMID < 100 || spec.VMID > 999999999 {
		return fmt.Errorf("pvesim: invalid VMID %d", spec.VMID)
	}
	if s.vms[spec.VMID] != nil {
		return fmt.Errorf("pvesim: VMID %d already exists", spec.VMID)
	}
	if s.node(spec.Node) == nil {
		return fmt.Errorf("pvesim: VM %d: unknown node %q", spec.VMID, spec.Node)
	}
	if spec.Status == "" {
		spec.Status = "running"
	}
	if err := validStatus(spec.Status); err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = fmt.Sprintf("vm%d", spec.VMID)
	}
	if spec.SMBIOS1 == "" {
		spec.SMBIOS1 = "uuid=" + fakeUUID(spec.VMID)
	}
	if spec.Cores <= 0 {
		spec.Cores = 1
	}
	if spec.MemoryMiB <= 0 {
		spec.MemoryMiB = 2048
	}
	spec.Tags = append([]string(nil), spec.Tags...)
	spec.Disks = append([]string(nil), spec.Disks...)
	for _, d := range spec.Disks {
		sid, volname, ok := strings.Cut(d, ":")
		if !ok || volname == "" {
			return fmt.Errorf("pvesim: VM %d: disk %q is not a volume ID (storage:name)", spec.VMID, d)
		}
		def := s.storage(sid)
		if def == nil {
			return fmt.Errorf("pvesim: VM %d: disk %q on unknown storage", spec.VMID, d)
		}
		key := volKey{storage: sid, node: def.scopeNode(spec.Node), volid: d}
		s.volumes[key] = &volume{storage: sid, node: key.node, volid: d, content: "images",
			format: diskFormat(volname), size: 32 << 30, vmid: spec.VMID, ctime: time.Now().Unix()}
	}
	v := &vm{spec: spec, status: spec.Status}
	if v.running() {
		v.startedAt = time.Now()
		v.pid = s.newPID()
	}
	if spec.HA {
		v.haState = haStateFor(v.status)
	}
	s.vms[spec.VMID] = v
	return nil
}

func diskFormat(volname string) string {
	switch {
	case strings.HasSuffix(volname, ".qcow2"):
		return "qcow2"
	case strings.HasSuffix(volname, ".vmdk"):
		return "vmdk"
	}
	return "raw"
}

func fakeUUID(vmid int) string {
	h := sha1.Sum([]byte("pvesim-vm-" + strconv.Itoa(vmid)))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// setVMStatus changes the power state, notifying waiters when it goes off.
func (s *Sim) setVMStatus(v *vm, status string, now time.Time) {
	wasRunning := v.running()
	v.status = status
	v.spec.Status = status
	if v.running() && !wasRunning {
		v.startedAt = now
		v.pid = s.newPID()
	}
	if !v.running() {
		s.powerOff(v, now)
	}
}

// powerOff turns the guest off and wakes the tasks waiting for that.
func (s *Sim) powerOff(v *vm, now time.Time) {
	v.status = "stopped"
	v.spec.Status = "stopped"
	v.pid = 0
	if v.offEvent != nil {
		v.offEvent.cancelled = true
		v.offEvent = nil
	}
	waiters := v.waiters
	v.waiters = nil
	for _, t := range waiters {
		if !t.done && t.onVMOff != nil {
			t.onVMOff(now)
		}
	}
}

// schedulePowerOff makes the guest go off at the given time unless an
// earlier power-off is already pending.
func (s *Sim) schedulePowerOff(v *vm, at time.Time) {
	if v.offEvent != nil && !v.offEvent.cancelled && !v.offEvent.at.After(at) {
		return
	}
	if v.offEvent != nil {
		v.offEvent.cancelled = true
	}
	vmid := v.spec.VMID
	v.offEvent = s.schedule(at, func(now time.Time) {
		cur := s.vms[vmid]
		if cur != v {
			return
		}
		v.offEvent = nil
		if v.running() {
			s.powerOff(v, now)
		}
	})
}

func (v *vm) removeWaiter(t *task) {
	for i, w := range v.waiters {
		if w == t {
			v.waiters = append(v.waiters[:i], v.waiters[i+1:]...)
			return
		}
	}
}

// config renders the VM config as GET /nodes/{node}/qemu/{vmid}/config does.
func (v *vm) config() map[string]any {
	c := map[string]any{
		"name":    v.spec.Name,
		"smbios1": v.spec.SMBIOS1,
		"cores":   v.spec.Cores,
		"memory":  strconv.Itoa(v.spec.MemoryMiB),
		"ostype":  "l26",
		"scsihw":  "virtio-scsi-single",
		"vmgenid": fakeUUID(v.spec.VMID + 1),
		"net0":    fmt.Sprintf("virtio=BC:24:11:%02X:%02X:%02X,bridge=vmbr0,firewall=1", (v.spec.VMID>>16)&0xff, (v.spec.VMID>>8)&0xff, v.spec.VMID&0xff),
	}
	var boot []string
	for i, d := range v.spec.Disks {
		key := fmt.Sprintf("scsi%d", i)
		c[key] = d + ",iothread=1,size=32G"
		boot = append(boot, key)
	}
	if len(boot) > 0 {
		c["boot"] = "order=" + strings.Join(boot, ";")
	}
	if len(v.spec.Tags) > 0 {
		c["tags"] = joinTags(v.spec.Tags)
	}
	if v.spec.Protection {
		c["protection"] = 1
	}
	if v.spec.Lock != "" {
		c["lock"] = v.spec.Lock
	}
	for k, val := range v.spec.Config {
		c[k] = val
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha1.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s: %v\n", k, c[k])
	}
	c["digest"] = hex.EncodeToString(h.Sum(nil))
	return c
}

// Backup volume IDs, as vzdump and the PBS plugin name them.
var (
	reDirBackup = regexp.MustCompile(`^backup/(vzdump-(qemu|lxc|openvz)-([1-9][0-9]{2,8})-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)\.(tgz|(?:tar|vma)(?:\.(?:gz|lzo|zst|bz2))?))$`)
	rePBSBackup = regexp.MustCompile(`^backup/([^\s_]+)/([^\s_]+)/([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)$`)
)

// parseBackupVolname returns owner vmid, format, subtype and ctime of a
// backup volume name ("backup/...") on a storage of the given type.
func parseBackupVolname(storType, volname string) (vmid int, format, subtype string, ctime int64, err error) {
	if storType == "pbs" {
		m := rePBSBackup.FindStringSubmatch(volname)
		if m == nil {
			return 0, "", "", 0, fmt.Errorf("unable to parse PBS volume name '%s'", volname)
		}
		t, terr := time.Parse("2006-01-02T15:04:05Z", m[3])
		if terr != nil {
			return 0, "", "", 0, fmt.Errorf("unable to parse PBS volume name '%s'", volname)
		}
		vmid, _ = strconv.Atoi(m[2])
		sub := "qemu"
		if m[1] == "ct" {
			sub = "lxc"
		}
		return vmid, "pbs-" + m[1], sub, t.Unix(), nil
	}
	m := reDirBackup.FindStringSubmatch(volname)
	if m == nil {
		return 0, "", "", 0, fmt.Errorf("unable to parse directory volume name '%s'", volname)
	}
	vmid, _ = strconv.Atoi(m[3])
	t, terr := time.Parse("2006_01_02-15_04_05", fmt.Sprintf("%s_%s_%s-%s_%s_%s", m[4], m[5], m[6], m[7], m[8], m[9]))
	if terr != nil {
		return 0, "", "", 0, fmt.Errorf("unable to parse directory volume name '%s'", volname)
	}
	return vmid, m[10], m[2], t.Unix(), nil
}

// BackupVolid builds the volume ID vzdump/PBS would give a VM backup taken
// at t: "<storage>:backup/vzdump-qemu-<vmid>-<YYYY_MM_DD-HH_MM_SS>.vma.zst"
// for file storages, "<storage>:backup/vm/<vmid>/<RFC3339 UTC>" for PBS.
// The simulator uses UTC where vzdump uses the node's local time.
func BackupVolid(storage, storageType string, vmid int, t time.Time) string {
	t = t.UTC()
	if storageType == "pbs" {
		return fmt.Sprintf("%s:backup/vm/%d/%s", storage, vmid, t.Format("2006-01-02T15:04:05Z"))
	}
	return fmt.Sprintf("%s:backup/vzdump-qemu-%d-%s.vma.zst", storage, vmid, t.Format("2006_01_02-15_04_05"))
}
