package dbmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// VM sources: where a service's VM location (server, node, vmid) comes from.
const (
	SourceOwn      = "own"      // our VM table holds it
	SourcePVEWHMCS = "pvewhmcs" // The-Network-Crew's Proxmox-VE-for-WHMCS (mod_pvewhmcs_vms)
	SourceMapped   = "mapped"   // any module's table, described by a column mapping
)

// SourceConfig says where a service's VM location comes from. Tables of
// other modules are only read; the one write is the optional mirrored
// status column of a mapped source. Our state (vm_status, attempts, last
// error, the identity snapshot) always lives in our VM table.
type SourceConfig struct {
	Kind     string         `yaml:"kind" json:"kind"` // own (default), pvewhmcs or mapped
	PVEWHMCS PVEWHMCSSource `yaml:"pvewhmcs" json:"pvewhmcs"`
	Mapped   MappedSource   `yaml:"mapped" json:"mapped"`
}

// PVEWHMCSSource reads Proxmox-VE-for-WHMCS's tables: mod_pvewhmcs_vms
// (id = tblhosting.id, vmid, node_id, vtype, ipaddress, v6prefix) joined to
// mod_pvewhmcs_nodes (pve_name, whmcs_id).
type PVEWHMCSSource struct {
	VMsTable   string `yaml:"vms_table" json:"vms_table"`     // default mod_pvewhmcs_vms
	NodesTable string `yaml:"nodes_table" json:"nodes_table"` // default mod_pvewhmcs_nodes
	// Servers maps a node's whmcs_id (the WHMCS server it belongs to) to a
	// proxmox[].name; Server is the proxmox[].name of every other node
	// (filled in when only one proxmox entry is configured).
	Servers map[string]string `yaml:"servers" json:"servers"`
	Server  string            `yaml:"server" json:"server"`
}

// MappedSource describes another module's VM table by its columns.
type MappedSource struct {
	Table      string `yaml:"table" json:"table"`
	ServiceID  string `yaml:"service_id" json:"service_id"`   // column holding tblhosting.id
	VMID       string `yaml:"vmid" json:"vmid"`               // column holding the vmid
	Node       string `yaml:"node" json:"node"`               // column holding the node name
	Server     string `yaml:"server" json:"server"`           // column holding the proxmox[].name, or
	ServerName string `yaml:"server_name" json:"server_name"` // the fixed proxmox[].name of every row
	Name       string `yaml:"name" json:"name"`               // optional: column holding the VM's name
	UUID       string `yaml:"uuid" json:"uuid"`               // optional: column holding the smbios1 uuid
	Status     string `yaml:"status" json:"status"`           // optional: column vm_status is mirrored into
}

// Defaults of the pvewhmcs source.
const (
	DefaultPVEWHMCSVMs   = "mod_pvewhmcs_vms"
	DefaultPVEWHMCSNodes = "mod_pvewhmcs_nodes"
)

// WithDefaults fills the defaults.
func (c SourceConfig) WithDefaults() SourceConfig {
	if c.Kind == "" {
		c.Kind = SourceOwn
	}
	if c.Kind == SourcePVEWHMCS {
		if c.PVEWHMCS.VMsTable == "" {
			c.PVEWHMCS.VMsTable = DefaultPVEWHMCSVMs
		}
		if c.PVEWHMCS.NodesTable == "" {
			c.PVEWHMCS.NodesTable = DefaultPVEWHMCSNodes
		}
	}
	return c
}

// Foreign reports whether the location comes from another module's table.
func (c SourceConfig) Foreign() bool { return c.Kind == SourcePVEWHMCS || c.Kind == SourceMapped }

// ServerNames lists every proxmox[].name the source names (config checks
// that each is configured).
func (c SourceConfig) ServerNames() []string {
	var out []string
	switch c.Kind {
	case SourcePVEWHMCS:
		for _, v := range c.PVEWHMCS.Servers {
			out = append(out, v)
		}
		if c.PVEWHMCS.Server != "" {
			out = append(out, c.PVEWHMCS.Server)
		}
	case SourceMapped:
		if c.Mapped.ServerName != "" {
			out = append(out, c.Mapped.ServerName)
		}
	}
	sort.Strings(out)
	return out
}

// Validate checks the source.
func (c SourceConfig) Validate() []string {
	c = c.WithDefaults()
	var problems []string
	ident := func(what, v string, required bool) {
		if v == "" && !required {
			return
		}
		if !validIdent(v) {
			problems = append(problems, fmt.Sprintf("vm_source %s %q is not a plain SQL identifier", what, v))
		}
	}
	switch c.Kind {
	case SourceOwn:
	case SourcePVEWHMCS:
		ident("pvewhmcs.vms_table", c.PVEWHMCS.VMsTable, true)
		ident("pvewhmcs.nodes_table", c.PVEWHMCS.NodesTable, true)
		if len(c.PVEWHMCS.Servers) == 0 && c.PVEWHMCS.Server == "" {
			problems = append(problems, "vm_source pvewhmcs: set server (the proxmox[].name of its nodes) or servers (whmcs_id: proxmox[].name)")
		}
		for k := range c.PVEWHMCS.Servers {
			if _, err := strconv.Atoi(k); err != nil {
				problems = append(problems, fmt.Sprintf("vm_source pvewhmcs.servers key %q is not a WHMCS server id", k))
			}
		}
	case SourceMapped:
		m := c.Mapped
		ident("mapped.table", m.Table, true)
		ident("mapped.service_id", m.ServiceID, true)
		ident("mapped.vmid", m.VMID, true)
		ident("mapped.node", m.Node, true)
		ident("mapped.server", m.Server, false)
		ident("mapped.name", m.Name, false)
		ident("mapped.uuid", m.UUID, false)
		ident("mapped.status", m.Status, false)
		if (m.Server == "") == (m.ServerName == "") {
			problems = append(problems, "vm_source mapped: set exactly one of server (a column) and server_name (a fixed proxmox[].name)")
		}
	default:
		problems = append(problems, fmt.Sprintf("vm_source kind %q is not own, pvewhmcs or mapped", c.Kind))
	}
	return problems
}

// ForeignTables lists the other module's tables the source reads, with the
// columns it uses (checked at start; never created or altered).
func (c SourceConfig) ForeignTables() map[string][]string {
	switch c.Kind {
	case SourcePVEWHMCS:
		return map[string][]string{
			c.PVEWHMCS.VMsTable:   {"id", "vmid", "node_id", "vtype", "ipaddress", "v6prefix"},
			c.PVEWHMCS.NodesTable: {"id", "pve_name", "whmcs_id"},
		}
	case SourceMapped:
		m := c.Mapped
		var cols []string
		for _, col := range []string{m.ServiceID, m.VMID, m.Node, m.Server, m.Name, m.UUID, m.Status} {
			if col != "" {
				cols = append(cols, strings.ToLower(col))
			}
		}
		return map[string][]string{m.Table: cols}
	}
	return nil
}

// kindError is an error whose text is msg alone and which Is kind.
type kindError struct {
	msg  string
	kind error
}

func (e kindError) Error() string { return e.msg }
func (e kindError) Unwrap() error { return e.kind }

func errorOf(kind error, format string, args ...any) error {
	return kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// ErrNotKVM marks a service whose guest is not a KVM VM (an LXC container).
var ErrNotKVM = fmt.Errorf("not a KVM guest: %w", ErrNotFound)

// ErrNoSnapshot marks a service of a foreign source whose VM identity was
// never recorded (neither at adopt nor at a click).
var ErrNoSnapshot = fmt.Errorf("no identity snapshot: %w", ErrNotFound)

// Location is where another module's table says a service's VM lives.
type Location struct {
	Server, Node string
	VMID         int
	Name, UUID   string // mapped name/uuid columns, when configured
	IPv4, IPv6   string
	Status       string // the mirrored status column's value, when configured
}

// LoadLocation reads the VM location of a service from the source's table.
func (s *Store) LoadLocation(ctx context.Context, serviceID int) (Location, error) {
	src := s.cfg.VMSource
	switch src.Kind {
	case SourcePVEWHMCS:
		return s.pvewhmcsLocation(ctx, serviceID)
	case SourceMapped:
		return s.mappedLocation(ctx, serviceID)
	}
	var vm VMInfo
	err := s.vm(ctx).Where("service_id = ?", serviceID).Take(&vm).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Location{}, fmt.Errorf("service %d has no VM row in %s: %w", serviceID, s.cfg.VMTable, ErrNotFound)
	}
	return Location{Server: vm.Server, Node: vm.Node, VMID: vm.VMID, Name: vm.VMName, UUID: vm.VMUUID, IPv4: vm.IPv4, IPv6: vm.IPv6}, err
}

func (s *Store) pvewhmcsLocation(ctx context.Context, serviceID int) (Location, error) {
	p := s.cfg.VMSource.PVEWHMCS
	var row struct {
		VMID      sql.NullInt64
		VType     string
		IPAddress string
		V6Prefix  sql.NullString
		PVEName   sql.NullString
		WHMCSID   sql.NullInt64
	}
	q := fmt.Sprintf("SELECT v.vmid AS vm_id, v.vtype AS v_type, v.ipaddress AS ip_address, v.v6prefix AS v6_prefix, "+
		"n.pve_name AS pve_name, n.whmcs_id AS whmcs_id FROM `%s` v LEFT JOIN `%s` n ON n.id = v.node_id WHERE v.id = ?",
		p.VMsTable, p.NodesTable)
	if _, err := s.scanServiceRow(ctx, p.VMsTable, serviceID, q,
		&row.VMID, &row.VType, &row.IPAddress, &row.V6Prefix, &row.PVEName, &row.WHMCSID); err != nil {
		return Location{}, err
	}
	if !strings.EqualFold(row.VType, "qemu") {
		kind := "not a KVM VM"
		if strings.EqualFold(row.VType, "lxc") {
			kind = "an LXC container, not a KVM VM"
		}
		return Location{}, errorOf(ErrNotKVM, "service %d is %s (%s.vtype=%q): proxmox-terminate terminates KVM guests only",
			serviceID, kind, p.VMsTable, row.VType)
	}
	loc := Location{Node: row.PVEName.String, VMID: int(row.VMID.Int64)}
	if row.WHMCSID.Valid {
		loc.Server = p.Servers[strconv.FormatInt(row.WHMCSID.Int64, 10)]
	}
	if loc.Server == "" {
		loc.Server = p.Server
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(row.IPAddress)); err == nil && a.Is4() {
		loc.IPv4 = a.String()
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(row.V6Prefix.String)); err == nil && a.Is6() {
		loc.IPv6 = a.String() // an address; a prefix (2001:db8::/64) names no single address
	}
	return loc, nil
}

func (s *Store) mappedLocation(ctx context.Context, serviceID int) (Location, error) {
	m := s.cfg.VMSource.Mapped
	col := func(c string) string {
		if c == "" {
			return "''"
		}
		return "`" + c + "`"
	}
	q := fmt.Sprintf("SELECT %s, %s, %s, %s, %s, %s FROM `%s` WHERE `%s` = ?",
		col(m.VMID), col(m.Node), col(m.Server), col(m.Name), col(m.UUID), col(m.Status), m.Table, m.ServiceID)
	var vmid sql.NullInt64
	var node, server, name, uuid, status sql.NullString
	several, err := s.scanServiceRow(ctx, m.Table, serviceID, q, &vmid, &node, &server, &name, &uuid, &status)
	if err != nil {
		return Location{}, err
	}
	loc := Location{VMID: int(vmid.Int64), Node: node.String, Server: server.String, Name: name.String,
		UUID: strings.ToLower(uuid.String), Status: status.String}
	if m.ServerName != "" {
		loc.Server = m.ServerName
	}
	if several {
		return Location{}, fmt.Errorf("service %d has several rows in %s: refusing to guess", serviceID, m.Table)
	}
	return loc, nil
}

// scanServiceRow runs q, a query of table with serviceID as its one
// argument, and scans its first row into dest: ErrNotFound when there is
// none; several reports whether another row follows.
func (s *Store) scanServiceRow(ctx context.Context, table string, serviceID int, q string, dest ...any) (several bool, err error) {
	rows, err := s.db.WithContext(ctx).Raw(q, serviceID).Rows()
	if err != nil {
		return false, fmt.Errorf("read %s of service %d: %w", table, serviceID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return false, err
		}
		return false, fmt.Errorf("service %d has no row in %s: %w", serviceID, table, ErrNotFound)
	}
	if err := rows.Scan(dest...); err != nil {
		return false, fmt.Errorf("read %s of service %d: %w", table, serviceID, err)
	}
	return rows.Next(), nil
}

// loadForeign is LoadService for a foreign source: the location from the
// other module's table, our state and identity snapshot from our table.
func (s *Store) loadForeign(ctx context.Context, svc Service) (Service, error) {
	id := svc.Hosting.ID
	var own VMInfo
	err := s.vm(ctx).Where("service_id = ?", id).Take(&own).Error
	haveOwn := err == nil
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return svc, fmt.Errorf("read VM row of service %d: %w", id, err)
	}
	if haveOwn && own.VMStatus == StatusRemove {
		svc.VM = own // terminated: the other module's row may still name the old VM
		return svc, nil
	}
	loc, err := s.LoadLocation(ctx, id)
	if err != nil {
		return svc, err
	}
	if !haveOwn || (own.VMName == "" && own.VMUUID == "") {
		return svc, errorOf(ErrNoSnapshot, "service %d has no identity snapshot in %s: its VM's name and uuid are recorded by `starter adopt --service-id %d` or at the first click",
			id, s.cfg.VMTable, id)
	}
	if loc.VMID == 0 && own.VMID != 0 {
		// The other module does not know the vmid; adopt discovered it.
		loc.Server, loc.Node, loc.VMID = own.Server, own.Node, own.VMID
	}
	if own.VMID != 0 && (own.VMID != loc.VMID || !strings.EqualFold(own.Node, loc.Node)) {
		// The other module now names another VM than the one whose identity
		// we recorded: the snapshot is stale, never a licence to act.
		return svc, errorOf(ErrNoSnapshot, "service %d: %s names vmid %d on %q, the identity snapshot is of vmid %d on %q: re-adopt it (`starter adopt --service-id %d`)",
			id, s.sourceTable(), loc.VMID, loc.Node, own.VMID, own.Node, id)
	}
	vm := own
	vm.Server, vm.Node, vm.VMID = loc.Server, loc.Node, loc.VMID
	if vm.IPv4 == "" {
		vm.IPv4 = loc.IPv4
	}
	if vm.IPv6 == "" {
		vm.IPv6 = loc.IPv6
	}
	svc.VM = vm
	return svc, nil
}

// Snapshot is a VM's identity as Proxmox showed it at adopt or at a click.
type Snapshot struct {
	Server, Node string
	VMID         int
	Name, UUID   string
	IPv4, IPv6   string
	Hostname     string
}

// RecordSnapshot records a service's VM identity in our table: it creates
// the row (vm_status 'ready') or updates the identity of an existing one.
// It never writes another module's table.
func (s *Store) RecordSnapshot(ctx context.Context, serviceID int, snap Snapshot) error {
	row := VMInfo{ServiceID: serviceID, VMStatus: "ready", Server: snap.Server, Node: snap.Node, VMID: snap.VMID,
		VMName: snap.Name, VMUUID: strings.ToLower(snap.UUID), IPv4: snap.IPv4, IPv6: snap.IPv6, Hostname: snap.Hostname,
		UpdatedAt: s.Now()}
	err := s.vm(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "service_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"server", "node", "vmid", "vm_name", "vm_uuid", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("record the identity of service %d: %w", serviceID, err)
	}
	return nil
}

// mirrors reports whether vm_status is mirrored into another module's table.
func (s *Store) mirrors() bool {
	return s.cfg.VMSource.Kind == SourceMapped && s.cfg.VMSource.Mapped.Status != ""
}

// mirrorStatus writes vm_status into a mapped source's status column.
func (s *Store) mirrorStatus(tx *gorm.DB, serviceID int, status string) error {
	m := s.cfg.VMSource.Mapped
	if !s.mirrors() {
		return nil
	}
	err := tx.Exec(fmt.Sprintf("UPDATE `%s` SET `%s` = ? WHERE `%s` = ?", m.Table, m.Status, m.ServiceID), status, serviceID).Error
	if err != nil {
		return fmt.Errorf("mirror vm_status into %s.%s: %w", m.Table, m.Status, err)
	}
	return nil
}

// sourceTable names the table the location comes from.
func (s *Store) sourceTable() string {
	switch s.cfg.VMSource.Kind {
	case SourcePVEWHMCS:
		return s.cfg.VMSource.PVEWHMCS.VMsTable
	case SourceMapped:
		return s.cfg.VMSource.Mapped.Table
	}
	return s.cfg.VMTable
}
