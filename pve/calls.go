package pve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// VMStatus is the part of status/current the pipeline reads.
type VMStatus struct {
	Status    string // "running" | "stopped"
	QMPStatus string // "running" | "paused" | "prelaunch" | ...; empty when stopped
	Lock      string // e.g. "backup"; empty when unlocked
	Name      string
	HAManaged bool
	HAState   string
}

// Running reports whether the guest still runs (paused counts as running:
// its process holds the disks and Proxmox refuses to destroy it).
func (s VMStatus) Running() bool { return s.Status == "running" }

// VMConfig is the part of the VM config the identity guard and DELETE read.
type VMConfig struct {
	Name       string
	Tags       string
	SMBIOS1    string
	Protection bool
	Lock       string
}

// UUID returns the smbios1 uuid, or "".
func (c VMConfig) UUID() string {
	for _, part := range strings.Split(c.SMBIOS1, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "uuid="); ok {
			return strings.ToLower(v)
		}
	}
	return ""
}

// flexInt accepts JSON numbers, numeric strings, booleans and null:
// Proxmox types the same field differently across releases.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	switch s {
	case "", "null", "false":
		*f = 0
		return nil
	case "true":
		*f = 1
		return nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = flexInt(n)
	return nil
}

func vmPath(node string, vmid int) string {
	return fmt.Sprintf("/nodes/%s/qemu/%d", url.PathEscape(node), vmid)
}

// Version reads /version and caches the release (e.g. "8.2").
func (c *Client) Version(ctx context.Context) (string, error) {
	var v struct {
		Release string `json:"release"`
		Version string `json:"version"`
	}
	if err := c.get(ctx, "/version", nil, &v); err != nil {
		return "", err
	}
	c.verOnce.Lock()
	c.release = v.Release
	c.verOnce.Unlock()
	return v.Release, nil
}

// VMStatus reads status/current.
func (c *Client) VMStatus(ctx context.Context, node string, vmid int) (VMStatus, error) {
	var raw struct {
		Status    string          `json:"status"`
		QMPStatus string          `json:"qmpstatus"`
		Lock      string          `json:"lock"`
		Name      string          `json:"name"`
		HA        json.RawMessage `json:"ha"`
	}
	if err := c.get(ctx, vmPath(node, vmid)+"/status/current", nil, &raw); err != nil {
		return VMStatus{}, err
	}
	st := VMStatus{Status: raw.Status, QMPStatus: raw.QMPStatus, Lock: raw.Lock, Name: raw.Name}
	if len(raw.HA) > 0 {
		var ha struct {
			Managed flexInt `json:"managed"`
			State   string  `json:"state"`
		}
		if json.Unmarshal(raw.HA, &ha) == nil {
			st.HAManaged = ha.Managed != 0
			st.HAState = ha.State
		}
	}
	return st, nil
}

// VMConfig reads the VM config.
func (c *Client) VMConfig(ctx context.Context, node string, vmid int) (VMConfig, error) {
	var raw struct {
		Name       string  `json:"name"`
		Tags       string  `json:"tags"`
		SMBIOS1    string  `json:"smbios1"`
		Protection flexInt `json:"protection"`
		Lock       string  `json:"lock"`
	}
	if err := c.get(ctx, vmPath(node, vmid)+"/config", nil, &raw); err != nil {
		return VMConfig{}, err
	}
	return VMConfig{Name: raw.Name, Tags: raw.Tags, SMBIOS1: raw.SMBIOS1, Protection: raw.Protection != 0, Lock: raw.Lock}, nil
}

// Shutdown asks the guest to power off (ACPI) and returns the task's UPID.
// timeout is the seconds Proxmox waits for the guest before failing the
// task; 0 leaves Proxmox's default. The shutdown is never forced. It waits
// for one of the node's state-change slots (see WithQueueWait) and holds it
// for the request only.
func (c *Client) Shutdown(ctx context.Context, node string, vmid int, timeout int) (string, error) {
	params := map[string]string{}
	if timeout > 0 {
		params["timeout"] = strconv.Itoa(timeout)
	}
	return c.postStatus(ctx, node, vmid, "shutdown", params)
}

// Start powers the guest on (POST status/start) and returns the task's
// UPID: the undo window's restore. Like Shutdown, it waits for one of the
// node's state-change slots and holds it for the request only.
func (c *Client) Start(ctx context.Context, node string, vmid int) (string, error) {
	return c.postStatus(ctx, node, vmid, "start", nil)
}

// postStatus POSTs status/<action> of the VM in one of the node's
// state-change slots, held for the request only, and returns the task's UPID.
func (c *Client) postStatus(ctx context.Context, node string, vmid int, action string, params map[string]string) (string, error) {
	release, err := c.acquireState(ctx, node)
	if err != nil {
		return "", err
	}
	defer release()
	var upid string
	err = c.post(ctx, vmPath(node, vmid)+"/status/"+action, params, &upid)
	return upid, err
}

// Stop is a hard stop. On clusters that know it (qemu-server >= 8.1.2, PVE 8.2), it
// sends overrule-shutdown=1 so that Proxmox aborts pending shutdown tasks
// instead of waiting for their lock. Older clusters reject that parameter
// with 400; there Stop aborts the shutdown tasks named in abort itself
// (DELETE /nodes/{node}/tasks/{upid}, errors ignored: the task may be over)
// and stops without the parameter. A failed version read never blocks the
// stop: the parameter is tried and the 400 fallback decides. Like Shutdown,
// it waits for a state-change slot of the node, never for a destroy slot.
func (c *Client) Stop(ctx context.Context, node string, vmid int, abort ...string) (upid string, overruled bool, err error) {
	release, err := c.acquireState(ctx, node)
	if err != nil {
		return "", false, err
	}
	defer release()
	overrule, verr := c.supportsOverrule(ctx)
	if verr != nil {
		overrule = true
	}
	if overrule {
		err = c.post(ctx, vmPath(node, vmid)+"/status/stop", map[string]string{"overrule-shutdown": "1"}, &upid)
		if err == nil {
			return upid, true, nil
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 {
			return "", false, err
		}
		// 400 either because the cluster predates the parameter ("property
		// is not defined in schema") — remember that — or because it does
		// not apply to this VM (HA resources): stop without it.
		if strings.Contains(e.Params["overrule-shutdown"], "not defined") {
			c.verOnce.Lock()
			c.release = "7"
			c.verOnce.Unlock()
		}
	}
	for _, u := range abort {
		if u != "" {
			_ = c.StopTask(ctx, node, u)
		}
	}
	err = c.post(ctx, vmPath(node, vmid)+"/status/stop", nil, &upid)
	return upid, false, err
}

func (c *Client) supportsOverrule(ctx context.Context) (bool, error) {
	c.verOnce.Lock()
	rel := c.release
	c.verOnce.Unlock()
	if rel == "" {
		var err error
		if rel, err = c.Version(ctx); err != nil {
			return false, err
		}
	}
	return releaseAtLeast(rel, 8, 2), nil
}

// releaseAtLeast compares a PVE release string such as "8.2" or "7.4-3".
func releaseAtLeast(rel string, major, minor int) bool {
	rel = strings.SplitN(rel, "-", 2)[0]
	parts := strings.SplitN(rel, ".", 3)
	ma, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	mi := 0
	if len(parts) > 1 {
		mi, _ = strconv.Atoi(parts[1])
	}
	return ma > major || (ma == major && mi >= minor)
}

// Storage is a storage of a node that may hold backups.
type Storage struct {
	Storage string
	Type    string
	Shared  bool
}

// BackupStorages lists the enabled storages of node that can hold backups.
func (c *Client) BackupStorages(ctx context.Context, node string) ([]Storage, error) {
	var raw []struct {
		Storage string  `json:"storage"`
		Type    string  `json:"type"`
		Shared  flexInt `json:"shared"`
	}
	err := c.get(ctx, fmt.Sprintf("/nodes/%s/storage", url.PathEscape(node)),
		map[string]string{"content": "backup", "enabled": "1"}, &raw)
	if err != nil {
		return nil, err
	}
	out := make([]Storage, 0, len(raw))
	for _, r := range raw {
		out = append(out, Storage{Storage: r.Storage, Type: r.Type, Shared: r.Shared != 0})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Storage < out[j].Storage })
	return out, nil
}

// Backup is one backup archive of a VM.
type Backup struct {
	Storage   string `json:"storage"`
	VolID     string `json:"volid"`
	Size      int64  `json:"size"`
	CTime     int64  `json:"ctime"`
	Protected bool   `json:"protected"`
}

// Backups lists the VM's backups on one storage.
func (c *Client) Backups(ctx context.Context, node, storage string, vmid int) ([]Backup, error) {
	var raw []struct {
		VolID     string  `json:"volid"`
		Size      int64   `json:"size"`
		CTime     int64   `json:"ctime"`
		VMID      flexInt `json:"vmid"`
		Protected flexInt `json:"protected"`
	}
	err := c.get(ctx, fmt.Sprintf("/nodes/%s/storage/%s/content", url.PathEscape(node), url.PathEscape(storage)),
		map[string]string{"content": "backup", "vmid": strconv.Itoa(vmid)}, &raw)
	if err != nil {
		return nil, err
	}
	out := make([]Backup, 0, len(raw))
	for _, r := range raw {
		if int(r.VMID) != vmid { // never trust a filter with a destructive follow-up
			continue
		}
		out = append(out, Backup{Storage: storage, VolID: r.VolID, Size: r.Size, CTime: r.CTime, Protected: r.Protected != 0})
	}
	return out, nil
}

// VMBackups lists the VM's backups on every backup storage of node, each
// volid once (a shared storage is visible from every node and may be listed
// under several names of the same target). A storage that cannot be listed
// is reported in errs; the others are still listed.
func (c *Client) VMBackups(ctx context.Context, node string, vmid int) (backups []Backup, errs []error, err error) {
	storages, err := c.BackupStorages(ctx, node)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, s := range storages {
		list, err := c.Backups(ctx, node, s.Storage, vmid)
		if err != nil {
			errs = append(errs, fmt.Errorf("storage %s: %w", s.Storage, err))
			continue
		}
		for _, b := range list {
			if !seen[b.VolID] {
				seen[b.VolID] = true
				backups = append(backups, b)
			}
		}
	}
	return backups, errs, nil
}

// DeleteVolume deletes a volume (a backup archive). Proxmox runs it as a
// task on current releases (the UPID is returned) and synchronously on old
// ones (the UPID is "").
func (c *Client) DeleteVolume(ctx context.Context, node, storage, volid string) (string, error) {
	var upid *string
	err := c.del(ctx, fmt.Sprintf("/nodes/%s/storage/%s/content/%s", url.PathEscape(node), url.PathEscape(storage), url.PathEscape(volid)), nil, &upid)
	if err != nil || upid == nil {
		return "", err
	}
	return *upid, nil
}

// DeleteVM sends DELETE /nodes/{node}/qemu/{vmid}?purge=1&destroy-unreferenced-disks=1
// and returns the destroy task's UPID. Proxmox checks synchronously that the
// VM exists, is not protected and is not running. The caller holds a
// destroy slot of the node (AcquireNode) across the DELETE and its task.
func (c *Client) DeleteVM(ctx context.Context, node string, vmid int) (string, error) {
	var upid string
	err := c.del(ctx, vmPath(node, vmid), map[string]string{"purge": "1", "destroy-unreferenced-disks": "1"}, &upid)
	return upid, err
}

// TaskStatus is a Proxmox task's state.
type TaskStatus struct {
	UPID       string
	Type       string
	Running    bool
	ExitStatus string
}

// OK reports success: "OK", or "WARNINGS: N" (the task did its job and logged warnings).
func (t TaskStatus) OK() bool {
	return !t.Running && (t.ExitStatus == "OK" || strings.HasPrefix(t.ExitStatus, "WARNINGS"))
}

// Err returns *TaskError for a finished task that failed, else nil.
func (t TaskStatus) Err() error {
	if t.Running || t.OK() {
		return nil
	}
	return &TaskError{UPID: t.UPID, Type: t.Type, ExitStatus: t.ExitStatus}
}

// TaskStatus reads /nodes/{node}/tasks/{upid}/status.
func (c *Client) TaskStatus(ctx context.Context, node, upid string) (TaskStatus, error) {
	var raw struct {
		Status     string `json:"status"`
		ExitStatus string `json:"exitstatus"`
		Type       string `json:"type"`
	}
	if err := c.get(ctx, taskPath(node, upid)+"/status", nil, &raw); err != nil {
		return TaskStatus{}, err
	}
	return TaskStatus{UPID: upid, Type: raw.Type, Running: raw.Status == "running", ExitStatus: raw.ExitStatus}, nil
}

func taskPath(node, upid string) string {
	return fmt.Sprintf("/nodes/%s/tasks/%s", url.PathEscape(node), url.PathEscape(upid))
}

// WaitTask polls a task every interval until it stops or ctx ends, and
// returns *TaskError when it failed (go-proxmox's Task.Wait would return nil).
// onPoll, when set, is called after each poll (for heartbeats).
func (c *Client) WaitTask(ctx context.Context, node, upid string, interval time.Duration, onPoll func(TaskStatus)) (TaskStatus, error) {
	for {
		st, err := c.TaskStatus(ctx, node, upid)
		if err != nil {
			return st, err
		}
		if onPoll != nil {
			onPoll(st)
		}
		if !st.Running {
			return st, st.Err()
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// StopTask aborts a running task (used to cancel a pending shutdown on
// clusters without overrule-shutdown).
func (c *Client) StopTask(ctx context.Context, node, upid string) error {
	return c.del(ctx, taskPath(node, upid), nil, nil)
}

// ClusterVM is a VM as /cluster/resources lists it.
type ClusterVM struct {
	VMID   int
	Node   string
	Name   string
	Status string
}

// clusterResource is a row of /cluster/resources?type=vm, the fields FindVM
// and ListVMs both read.
type clusterResource struct {
	Type   string  `json:"type"`
	VMID   flexInt `json:"vmid"`
	Node   string  `json:"node"`
	Name   string  `json:"name"`
	Status string  `json:"status"`
}

// FindVM looks the vmid up cluster-wide. ok is false when no node has it.
func (c *Client) FindVM(ctx context.Context, vmid int) (vm ClusterVM, ok bool, err error) {
	var raw []clusterResource
	if err := c.get(ctx, "/cluster/resources", map[string]string{"type": "vm"}, &raw); err != nil {
		return ClusterVM{}, false, err
	}
	for _, r := range raw {
		if r.Type == "qemu" && int(r.VMID) == vmid {
			return ClusterVM{VMID: vmid, Node: r.Node, Name: r.Name, Status: r.Status}, true, nil
		}
	}
	return ClusterVM{}, false, nil
}

// ActiveTasks lists the running tasks of type typ (e.g. "qmdestroy") for
// vmid on node. A retried DELETE uses it to find the destroy task an
// earlier try started before it could record the UPID.
func (c *Client) ActiveTasks(ctx context.Context, node string, vmid int, typ string) ([]string, error) {
	var raw []struct {
		UPID string `json:"upid"`
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	err := c.get(ctx, fmt.Sprintf("/nodes/%s/tasks", url.PathEscape(node)),
		map[string]string{"source": "active", "vmid": strconv.Itoa(vmid), "typefilter": typ}, &raw)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range raw {
		if r.Type == typ && r.ID == strconv.Itoa(vmid) {
			out = append(out, r.UPID)
		}
	}
	return out, nil
}
