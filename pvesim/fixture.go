package pvesim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("2s", "150ms").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a Go duration string like \"2s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Timestamp is a point in time written in JSON as RFC 3339 text
// ("2024-05-01T02:00:00Z") or Unix seconds.
type Timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*t = Timestamp(time.Unix(n, 0).UTC())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be RFC 3339 text or Unix seconds, got %s", b)
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	*t = Timestamp(v.UTC())
	return nil
}

// Fixture is a whole simulated cluster; see FIXTURE.md.
type Fixture struct {
	Release           string            `json:"release,omitempty"`
	Tokens            map[string]string `json:"tokens,omitempty"`
	LockWait          Duration          `json:"lock_wait,omitempty"`
	Second            Duration          `json:"second,omitempty"`
	DestroyDuration   Duration          `json:"destroy_duration,omitempty"`
	ImgDelDuration    Duration          `json:"imgdel_duration,omitempty"`
	UnauthorizedDelay Duration          `json:"unauthorized_delay,omitempty"`
	Nodes             []FixtureNode     `json:"nodes"`
	Storages          []FixtureStorage  `json:"storages"`
	Backups           []FixtureBackup   `json:"backups,omitempty"`
	VMs               []VMSpec          `json:"vms,omitempty"`
	Faults            []Fault           `json:"faults,omitempty"`
}

// FixtureNode is a cluster node; Online defaults to true.
type FixtureNode struct {
	Name   string `json:"name"`
	Online *bool  `json:"online,omitempty"`
}

// FixtureStorage is a storage definition (storage.cfg entry).
type FixtureStorage struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`    // dir, nfs, cifs, pbs, lvmthin, zfspool, rbd, ...
	Content  []string `json:"content"` // backup, images, iso, vztmpl, rootdir, snippets, import
	Shared   bool     `json:"shared,omitempty"`
	Nodes    []string `json:"nodes,omitempty"` // restrict to these nodes (empty: all)
	Disabled bool     `json:"disabled,omitempty"`
	Total    int64    `json:"total,omitempty"` // bytes
	Used     int64    `json:"used,omitempty"`  // bytes
}

// FixtureBackup is one backup archive. Volid is generated from Storage,
// VMID and CTime unless given (then it must be a valid backup volid of that
// storage type and VMID). Node is required for non-shared storages.
type FixtureBackup struct {
	Storage   string    `json:"storage"`
	Node      string    `json:"node,omitempty"`
	VMID      int       `json:"vmid"`
	CTime     Timestamp `json:"ctime"`
	Protected bool      `json:"protected,omitempty"`
	Notes     string    `json:"notes,omitempty"`
	Size      int64     `json:"size,omitempty"`
	Volid     string    `json:"volid,omitempty"`
}

type vmSpecJSON struct {
	Node          string            `json:"node"`
	VMID          int               `json:"vmid"`
	Name          string            `json:"name,omitempty"`
	Status        string            `json:"status,omitempty"`
	Tags          []string          `json:"tags,omitempty"`
	SMBIOS1       string            `json:"smbios1,omitempty"`
	Protection    bool              `json:"protection,omitempty"`
	Lock          string            `json:"lock,omitempty"`
	HA            bool              `json:"ha,omitempty"`
	Disks         []string          `json:"disks,omitempty"`
	Cores         int               `json:"cores,omitempty"`
	MemoryMiB     int               `json:"memory_mib,omitempty"`
	Config        map[string]string `json:"config,omitempty"`
	ShutdownDelay Duration          `json:"shutdown_delay,omitempty"`
	IgnoreACPI    bool              `json:"ignore_acpi,omitempty"`
	Hang          bool              `json:"hang,omitempty"`
	StopDelay     Duration          `json:"stop_delay,omitempty"`
}

// MarshalJSON writes the fixture form (snake_case, duration strings).
func (v VMSpec) MarshalJSON() ([]byte, error) {
	return json.Marshal(vmSpecJSON{Node: v.Node, VMID: v.VMID, Name: v.Name, Status: v.Status, Tags: v.Tags,
		SMBIOS1: v.SMBIOS1, Protection: v.Protection, Lock: v.Lock, HA: v.HA, Disks: v.Disks, Cores: v.Cores,
		MemoryMiB: v.MemoryMiB, Config: v.Config, ShutdownDelay: Duration(v.ShutdownDelay),
		IgnoreACPI: v.IgnoreACPI, Hang: v.Hang, StopDelay: Duration(v.StopDelay)})
}

// UnmarshalJSON reads the fixture form; unknown keys are errors.
func (v *VMSpec) UnmarshalJSON(b []byte) error {
	var j vmSpecJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	*v = VMSpec{Node: j.Node, VMID: j.VMID, Name: j.Name, Status: j.Status, Tags: j.Tags, SMBIOS1: j.SMBIOS1,
		Protection: j.Protection, Lock: j.Lock, HA: j.HA, Disks: j.Disks, Cores: j.Cores, MemoryMiB: j.MemoryMiB,
		Config: j.Config, ShutdownDelay: time.Duration(j.ShutdownDelay), IgnoreACPI: j.IgnoreACPI, Hang: j.Hang,
		StopDelay: time.Duration(j.StopDelay)}
	return nil
}

// MarshalJSON writes the spec fields plus the live state.
func (st VMState) MarshalJSON() ([]byte, error) {
	spec, err := st.VMSpec.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(spec, &m); err != nil {
		return nil, err
	}
	m["qmpstatus"] = st.QMPStatus
	if st.HAState != "" {
		m["hastate"] = st.HAState
	}
	if st.PID != 0 {
		m["pid"] = st.PID
	}
	m["uptime"] = st.Uptime.String()
	return json.Marshal(m)
}

type faultJSON struct {
	Node    string    `json:"node,omitempty"`
	VMID    int       `json:"vmid,omitempty"`
	Route   string    `json:"route,omitempty"`
	Method  string    `json:"method,omitempty"`
	Kind    FaultKind `json:"kind"`
	Count   int       `json:"count,omitempty"`
	Delay   Duration  `json:"delay,omitempty"`
	Message string    `json:"message,omitempty"`
	Status  int       `json:"status,omitempty"`
}

// MarshalJSON writes the fixture form.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{Node: f.Node, VMID: f.VMID, Route: f.Route, Method: f.Method, Kind: f.Kind,
		Count: f.Count, Delay: Duration(f.Delay), Message: f.Message, Status: f.Status})
}

// UnmarshalJSON reads the fixture form; unknown keys and kinds are errors.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault{Node: j.Node, VMID: j.VMID, Route: j.Route, Method: j.Method, Kind: j.Kind, Count: j.Count,
		Delay: time.Duration(j.Delay), Message: j.Message, Status: j.Status}
	return f.validate()
}

func (f Fault) validate() error {
	switch f.Kind {
	case FaultLatency, FaultNodeUnreachable, FaultTokenExpired, FaultLockTimeout, FaultDeleteTaskFail,
		FaultTaskFail, FaultHTTPError:
	default:
		return fmt.Errorf("pvesim: unknown fault kind %q", f.Kind)
	}
	if f.Route != "" && !strings.HasPrefix(f.Route, "/") {
		return fmt.Errorf("pvesim: fault route %q must be a path template like /nodes/{node}/qemu/{vmid}", f.Route)
	}
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// LoadFixtureFile reads a fixture JSON file (unknown keys are errors).
func LoadFixtureFile(path string) (Fixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Fixture{}, err
	}
	var f Fixture
	if err := strictUnmarshal(b, &f); err != nil {
		return Fixture{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// LoadFixture replaces the simulated cluster (nodes, storages, backups, VMs,
// faults; tasks, locks and counters are reset). Release, tokens and tuning
// values given in the fixture override the Options.
func (s *Sim) LoadFixture(f Fixture) error {
	if len(f.Nodes) == 0 {
		return errors.New("pvesim: fixture has no nodes")
	}
	tmp := New(Options{})
	tmp.nodes = nil
	tmp.storages = nil
	seen := map[string]bool{}
	for _, n := range f.Nodes {
		if !reNodeName.MatchString(n.Name) || seen[n.Name] {
			return fmt.Errorf("pvesim: invalid or duplicate node name %q", n.Name)
		}
		seen[n.Name] = true
		online := n.Online == nil || *n.Online
		tmp.nodes = append(tmp.nodes, &nodeState{name: n.Name, online: online})
	}
	for _, st := range f.Storages {
		if !reStorageID.MatchString(st.ID) || tmp.storage(st.ID) != nil {
			return fmt.Errorf("pvesim: invalid or duplicate storage id %q", st.ID)
		}
		if st.Type == "" {
			return fmt.Errorf("pvesim: storage %q has no type", st.ID)
		}
		for _, c := range st.Content {
			if !storageContentTypes[c] {
				return fmt.Errorf("pvesim: storage %q: unknown content type %q", st.ID, c)
			}
		}
		for _, n := range st.Nodes {
			if tmp.node(n) == nil {
				return fmt.Errorf("pvesim: storage %q: unknown node %q", st.ID, n)
			}
		}
		tmp.storages = append(tmp.storages, &storageDef{ID: st.ID, Type: st.Type, Content: append([]string(nil), st.Content...),
			Shared: st.Shared, Nodes: append([]string(nil), st.Nodes...), Disabled: st.Disabled, Total: st.Total, Used: st.Used})
	}
	for i, b := range f.Backups {
		if err := tmp.addBackup(b); err != nil {
			return fmt.Errorf("pvesim: backup #%d: %w", i+1, err)
		}
	}
	for _, v := range f.VMs {
		if err := tmp.addVMLocked(v); err != nil {
			return err
		}
	}
	for _, fl := range f.Faults {
		if err := fl.validate(); err != nil {
			return err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes, s.storages, s.volumes, s.vms = tmp.nodes, tmp.storages, tmp.volumes, tmp.vms
	s.tasks, s.locks, s.events, s.faults = map[string]*task{}, map[int]*vmLock{}, nil, nil
	s.calls, s.requests = map[string]int{}, nil
	for _, fl := range f.Faults {
		s.setFaultLocked(fl)
	}
	if f.Release != "" {
		s.release = f.Release
	}
	if len(f.Tokens) > 0 {
		s.tokens = map[string]string{}
		for k, v := range f.Tokens {
			s.tokens[k] = v
		}
	}
	if f.LockWait > 0 {
		s.lockWait = time.Duration(f.LockWait)
	}
	if f.Second > 0 {
		s.second = time.Duration(f.Second)
	}
	if f.DestroyDuration > 0 {
		s.destroyDuration = time.Duration(f.DestroyDuration)
	}
	if f.ImgDelDuration > 0 {
		s.imgdelDuration = time.Duration(f.ImgDelDuration)
	}
	if f.UnauthorizedDelay > 0 {
		s.unauthorizedDelay = time.Duration(f.UnauthorizedDelay)
	}
	return nil
}

// AddBackup adds a backup archive at run time (same rules as fixture
// backups) and returns its volid.
func (s *Sim) AddBackup(b FixtureBackup) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.addBackup(b); err != nil {
		return "", err
	}
	d := s.storage(b.Storage)
	if b.Volid != "" {
		return b.Volid, nil
	}
	return BackupVolid(d.ID, d.Type, b.VMID, time.Time(b.CTime)), nil
}

func (s *Sim) addBackup(b FixtureBackup) error {
	d := s.storage(b.Storage)
	if d == nil {
		return fmt.Errorf("unknown storage %q", b.Storage)
	}
	if !d.hasContent("backup") {
		return fmt.Errorf("storage %q does not allow content 'backup'", b.Storage)
	}
	node := ""
	if !d.shared() {
		if b.Node == "" {
			return fmt.Errorf("storage %q is not shared: node required", b.Storage)
		}
		if !s.storageOnNode(d, b.Node) {
			return fmt.Errorf("storage %q is not available on node %q", b.Storage, b.Node)
		}
		node = b.Node
	}
	volid := b.Volid
	if volid == "" {
		if time.Time(b.CTime).IsZero() {
			return errors.New("ctime or volid required")
		}
		volid = BackupVolid(d.ID, d.Type, b.VMID, time.Time(b.CTime))
	}
	sid, volname, ok := strings.Cut(volid, ":")
	if !ok || sid != d.ID {
		return fmt.Errorf("volid %q does not belong to storage %q", volid, d.ID)
	}
	vmid, format, subtype, ctime, err := parseBackupVolname(d.Type, volname)
	if err != nil {
		return err
	}
	if b.VMID != 0 && vmid != b.VMID {
		return fmt.Errorf("volid %q is not a backup of VM %d", volid, b.VMID)
	}
	key := volKey{storage: d.ID, node: node, volid: volid}
	if s.volumes[key] != nil {
		return fmt.Errorf("duplicate backup %q", volid)
	}
	size := b.Size
	if size <= 0 {
		size = 1234567890
	}
	s.volumes[key] = &volume{storage: d.ID, node: node, volid: volid, content: "backup", format: format,
		size: size, ctime: ctime, vmid: vmid, protected: b.Protected, notes: b.Notes, subtype: subtype}
	return nil
}
