// Package pvesim is an in-process simulator of the Proxmox VE HTTP API
// (pveproxy/pve-http-server + qemu-server + pve-storage) for the endpoints the
// VM termination workflow uses. It reproduces the real wire behaviour —
// status lines carrying the error message as reason phrase, {"data":...}
// envelopes, PVEAPIToken authentication, JSONSchema-style parameter
// verification driven by the official API schema, UPID tasks with realistic
// lifecycles and config locks — so client code can be tested without a
// cluster. See LIMITS.md for what is simulated and what is guessed.
package pvesim

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

const apiBase = "/api2/json"

// DefaultTokenID and DefaultTokenSecret are accepted when Options.Tokens and
// the fixture define no token at all.
const (
	DefaultTokenID     = "root@pam!terminate"
	DefaultTokenSecret = "5d3b2f4e-8c1a-4f7e-9b2d-6a0c1e7f3a95"
)

// Options configures a simulator. Zero values select the defaults noted.
type Options struct {
	// Release is the PVE release to impersonate: "7.4" or "8.2" (default
	// "8.2"). Any "X.Y" is accepted; it gates parameters added later.
	Release string
	// Tokens maps API token IDs ("root@pam!terminate") to their secrets.
	Tokens map[string]string
	// Logf, when set, receives one line per request served.
	Logf func(format string, args ...any)

	// LockWait is how long a worker waits for the VM config lock before
	// failing with "can't lock file ... - got timeout" (PVE: 10s; default 1s).
	LockWait time.Duration
	// Second is the wall-clock length of one PVE second. It scales every
	// duration PVE expresses in seconds: the timeout parameter of
	// shutdown/stop (default 60), the delay parameter of volume deletion and
	// qemu-server's fixed 10s SIGTERM→SIGKILL grace period. Default 1s.
	Second time.Duration
	// DestroyDuration is how long a qmdestroy task works after it got the
	// lock (default 0: finishes at once).
	DestroyDuration time.Duration
	// ImgDelDuration is how long an imgdel (volume deletion) task runs.
	ImgDelDuration time.Duration
	// UnauthorizedDelay delays every 401 answer. pveproxy always delays them
	// by 3s; the default here is 0 to keep tests fast.
	UnauthorizedDelay time.Duration
}

// VMSpec describes a KVM guest and how it behaves.
type VMSpec struct {
	Node       string
	VMID       int
	Name       string
	Status     string // "running" | "stopped" | "paused" (default "running")
	Tags       []string
	SMBIOS1    string // e.g. "uuid=..."; generated when empty
	Protection bool
	Lock       string // config lock property, e.g. "backup"
	HA         bool   // managed by the HA stack
	Disks      []string
	Cores      int               // default 1
	MemoryMiB  int               // default 2048
	Config     map[string]string // extra config keys returned by GET .../config

	// Guest behaviour.
	ShutdownDelay time.Duration // ACPI shutdown takes this long until the guest is off
	IgnoreACPI    bool          // the guest ignores ACPI power button events
	Hang          bool          // QEMU does not answer QMP and cannot be killed
	StopDelay     time.Duration // time QEMU needs to exit after "quit"
}

// VMState is a snapshot of a simulated VM.
type VMState struct {
	VMSpec
	QMPStatus string // "running" | "paused" | "stopped"
	HAState   string // "" when not HA managed, else "started" | "stopped"
	PID       int
	Uptime    time.Duration
}

// FaultKind names an injectable failure.
type FaultKind string

// Fault kinds.
const (
	FaultLatency         FaultKind = "latency"          // sleep Delay before answering
	FaultNodeUnreachable FaultKind = "node_unreachable" // 595 for /nodes/{node}/... (Message = reason, default "Connection refused")
	FaultTokenExpired    FaultKind = "token_expired"    // 401 "token '<name>' access expired"
	FaultLockTimeout     FaultKind = "lock_timeout"     // "can't lock file '/var/lock/qemu-server/lock-<vmid>.conf' - got timeout"
	FaultDeleteTaskFail  FaultKind = "delete_task_fail" // qmdestroy/imgdel task fails with Message
	FaultTaskFail        FaultKind = "task_fail"        // any task started by the request fails with Message
	FaultHTTPError       FaultKind = "http_error"       // answer Status (default 500) with Message
)

// Fault injects a failure into matching requests. Empty/zero filter fields
// match anything. Count 0 applies forever; N applies to the next N matching
// calls.
type Fault struct {
	Node    string
	VMID    int
	Route   string // route template, e.g. "/nodes/{node}/qemu/{vmid}"
	Method  string
	Kind    FaultKind
	Count   int
	Delay   time.Duration
	Message string
	Status  int // http_error only
}

// RecordedRequest is one API request the simulator answered.
type RecordedRequest struct {
	Time   time.Time
	Method string
	Path   string     // relative to /api2/json, URL-decoded
	Route  string     // matched template, "" if none
	Params url.Values // query + body parameters (JSON true/false recorded as 1/0)
	JSON   bool       // body was application/json
	Status int
	Reason string
}

// Sim is a simulated Proxmox VE cluster.
type Sim struct {
	mu sync.Mutex

	release           string
	tokens            map[string]string
	logf              func(string, ...any)
	lockWait          time.Duration
	second            time.Duration
	destroyDuration   time.Duration
	imgdelDuration    time.Duration
	unauthorizedDelay time.Duration

	schema *apiSchema

	nodes    []*nodeState
	storages []*storageDef
	volumes  map[volKey]*volume
	vms      map[int]*vm
	tasks    map[string]*task
	locks    map[int]*vmLock
	events   eventQueue
	eventSeq int64
	faults   []*faultState

	calls    map[string]int
	requests []RecordedRequest
	nextPID  int

	srv         *http.Server
	ln          net.Listener
	tlsCert     *tls.Certificate
	fingerprint string
}

// New creates a simulator with a default one-node cluster ("pve1", storages
// "local" and "local-lvm"); LoadFixture replaces it.
func New(opts Options) *Sim {
	s := &Sim{
		schema:  mustSchema(),
		volumes: map[volKey]*volume{},
		vms:     map[int]*vm{},
		tasks:   map[string]*task{},
		locks:   map[int]*vmLock{},
		calls:   map[string]int{},
		nextPID: 0x2a41,
	}
	s.release = opts.Release
	if s.release == "" {
		s.release = "8.2"
	}
	s.tokens = map[string]string{}
	for k, v := range opts.Tokens {
		s.tokens[k] = v
	}
	s.logf = opts.Logf
	s.lockWait = defDur(opts.LockWait, time.Second)
	s.second = defDur(opts.Second, time.Second)
	s.destroyDuration = opts.DestroyDuration
	s.imgdelDuration = opts.ImgDelDuration
	s.unauthorizedDelay = opts.UnauthorizedDelay
	s.nodes = []*nodeState{{name: "pve1", online: true}}
	s.storages = []*storageDef{
		{ID: "local", Type: "dir", Content: []string{"backup", "iso", "vztmpl"}},
		{ID: "local-lvm", Type: "lvmthin", Content: []string{"images", "rootdir"}},
	}
	return s
}

func defDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Release returns the PVE release the simulator impersonates.
func (s *Sim) Release() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.release
}

// AddVM adds a VM (its disks appear on their storages). The VMID must be
// unused cluster-wide and the node must exist.
func (s *Sim) AddVM(spec VMSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	return s.addVMLocked(spec)
}

// UpdateVM changes a VM's spec at run time (guest behaviour, protection,
// lock, HA, tags, status ...). Node and VMID cannot be changed.
func (s *Sim) UpdateVM(vmid int, fn func(*VMSpec)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advance(now)
	v := s.vms[vmid]
	if v == nil {
		return fmt.Errorf("pvesim: no VM %d", vmid)
	}
	spec := v.spec
	spec.Tags = append([]string(nil), v.spec.Tags...)
	spec.Disks = append([]string(nil), v.spec.Disks...)
	oldStatus := v.status
	fn(&spec)
	spec.Node, spec.VMID = v.spec.Node, v.spec.VMID
	if spec.Status == "" {
		spec.Status = oldStatus
	}
	if err := validStatus(spec.Status); err != nil {
		return err
	}
	v.spec = spec
	if spec.Status != oldStatus {
		s.setVMStatus(v, spec.Status, now)
	}
	if spec.HA && v.haState == "" {
		v.haState = haStateFor(v.status)
	} else if !spec.HA {
		v.haState = ""
	}
	return nil
}

// VM returns the current state of a VM on a node.
func (s *Sim) VM(node string, vmid int) (VMState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advance(now)
	v := s.vms[vmid]
	if v == nil || v.spec.Node != node {
		return VMState{}, false
	}
	return v.state(now), true
}

// VMExists reports whether the VMID exists anywhere in the cluster.
func (s *Sim) VMExists(vmid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	return s.vms[vmid] != nil
}

// VMs returns all VMs sorted by VMID.
func (s *Sim) VMs() []VMState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advance(now)
	out := make([]VMState, 0, len(s.vms))
	for _, v := range s.vms {
		out = append(out, v.state(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out
}

// Backups returns the volids of the backup archives of vmid still present on
// any storage (a shared storage counts once), sorted.
func (s *Sim) Backups(vmid int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	seen := map[string]bool{}
	var out []string
	for _, vol := range s.volumes {
		if vol.content == "backup" && vol.vmid == vmid && !seen[vol.volid] {
			seen[vol.volid] = true
			out = append(out, vol.volid)
		}
	}
	sort.Strings(out)
	return out
}

// SetNodeOnline marks a node online or offline (offline nodes answer 595 to
// every proxied /nodes/{node}/... request).
func (s *Sim) SetNodeOnline(node string, online bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(node)
	if n == nil {
		return fmt.Errorf("pvesim: no node %q", node)
	}
	n.online = online
	return nil
}

// SetFault adds a fault, or replaces an existing one with the same filter
// (Node, VMID, Route, Method, Kind).
func (s *Sim) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultLocked(f)
}

// ClearFaults removes all faults.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns how often each route was requested, keyed
// "METHOD /route/template" (unmatched paths: "METHOD <unmatched> /path").
func (s *Sim) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Requests returns every API request served so far, in order.
func (s *Sim) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	copy(out, s.requests)
	return out
}

// ResetRecording clears the call counters and the recorded requests (e.g.
// between test phases or benchmark rounds; both grow without bound).
func (s *Sim) ResetRecording() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.requests = nil
}

// Routes returns every route the simulator serves (the /_sim/ control
// endpoints excluded), sorted by path then method.
func (s *Sim) Routes() []Route {
	out := make([]Route, 0, len(handlers))
	for r := range handlers {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// TaskInfo describes a worker task.
type TaskInfo struct {
	UPID       string
	Node       string
	Type       string
	ID         string
	User       string
	Running    bool
	ExitStatus string
	Log        []string
}

// Tasks returns all tasks started so far, oldest first.
func (s *Sim) Tasks() []TaskInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	list := s.sortedTasks()
	out := make([]TaskInfo, 0, len(list))
	for _, t := range list {
		out = append(out, TaskInfo{UPID: t.upid, Node: t.node, Type: t.typ, ID: t.id, User: t.user,
			Running: !t.done, ExitStatus: t.exit, Log: append([]string(nil), t.log...)})
	}
	return out
}

func validStatus(st string) error {
	switch st {
	case "running", "stopped", "paused":
		return nil
	}
	return fmt.Errorf("pvesim: invalid VM status %q (want running, stopped or paused)", st)
}

func joinTags(tags []string) string { return strings.Join(tags, ";") }
