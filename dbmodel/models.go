// Package dbmodel reads and writes the billing database: WHMCS's own tables
// (tblhosting, tblactivitylog, tblmodulelog), which it never creates or
// alters, and this project's VM table and action log.
package dbmodel

import "time"

// VM statuses, as the vendor's module names them.
const (
	StatusTerminate      = "terminate"
	StatusErrorTerminate = "error_terminate"
	StatusRemove         = "remove"
	// StatusGrace is this project's own: the VM is stopped and waits out the
	// undo window (timing.destroy_delay); a restore puts the row back to the
	// status it had before the click, the end of the window to terminate.
	StatusGrace = "grace"
)

// AdminTargets are the statuses an admin may reset a VM row to (spec:
// "Reset VM Status"). terminate re-queues the termination; remove marks the
// row removed without touching Proxmox; the rest hand the row to other state
// machines of the module.
var AdminTargets = []string{"terminate", "remove", "ready", "creation", "set_ip", "change_package", "set_dns_records"}

// Hosting is the part of WHMCS's tblhosting this project reads and writes.
type Hosting struct {
	ID           int    `gorm:"column:id;primaryKey"`
	UserID       int    `gorm:"column:userid"`
	Domain       string `gorm:"column:domain"`
	DedicatedIP  string `gorm:"column:dedicatedip"`
	AssignedIPs  string `gorm:"column:assignedips"`
	DomainStatus string `gorm:"column:domainstatus"`
}

func (Hosting) TableName() string { return "tblhosting" }

// ActivityLog is a row of WHMCS's tblactivitylog (the client's "My Activity Log").
type ActivityLog struct {
	ID          int       `gorm:"column:id;primaryKey"`
	Date        time.Time `gorm:"column:date"`
	Description string    `gorm:"column:description"`
	User        string    `gorm:"column:user"`
	UserID      int       `gorm:"column:userid"`
	ClientID    int       `gorm:"column:user_id"`
	AdminID     int       `gorm:"column:admin_id"`
	IPAddr      string    `gorm:"column:ipaddr"`
}

func (ActivityLog) TableName() string { return "tblactivitylog" }

// ModuleLog is a row of WHMCS's tblmodulelog (Utilities → Logs → Module Log).
type ModuleLog struct {
	ID       int       `gorm:"column:id;primaryKey"`
	Date     time.Time `gorm:"column:date"`
	Module   string    `gorm:"column:module"`
	Action   string    `gorm:"column:action"`
	Request  string    `gorm:"column:request"`
	Response string    `gorm:"column:response"`
	ArrData  string    `gorm:"column:arrdata"`
}

func (ModuleLog) TableName() string { return "tblmodulelog" }

// VMInfo is one row of our VM table (default name mod_proxmoxterminate_vms):
// one row per WHMCS service that has a Proxmox VM.
type VMInfo struct {
	ID        int    `gorm:"column:id;primaryKey;autoIncrement"`
	ServiceID int    `gorm:"column:service_id;uniqueIndex;not null"`             // tblhosting.id
	VMStatus  string `gorm:"column:vm_status;size:32;index;not null;default:''"` // ready, terminate, error_terminate, remove, ...
	// Identity of the VM on Proxmox. Clean DB clears these once Proxmox confirms the VM is gone.
	Server   string `gorm:"column:server;size:64;not null;default:''"`   // configured Proxmox server (cluster) name
	Node     string `gorm:"column:node;size:64;not null;default:''"`     // node the VM lives on
	VMID     int    `gorm:"column:vmid;not null;default:0"`              // Proxmox vmid
	VMName   string `gorm:"column:vm_name;size:255;not null;default:''"` // the VM's name on Proxmox (its hostname)
	VMUUID   string `gorm:"column:vm_uuid;size:64;not null;default:''"`  // smbios1 uuid, when known: guards against vmid reuse
	IPv4     string `gorm:"column:ipv4;size:255;not null;default:''"`    // primary IPv4 the module assigned (also in tblhosting)
	IPv6     string `gorm:"column:ipv6;size:255;not null;default:''"`    // primary IPv6 the module assigned
	Hostname string `gorm:"column:hostname;size:255;not null;default:''"`
	// Bookkeeping of this project.
	TerminateAttempts int       `gorm:"column:terminate_attempts;not null;default:0"` // attempts whose outcome was logged: guards one activity-log entry per attempt
	LastError         string    `gorm:"column:last_error;type:text"`                  // reason of the last failed attempt, "" after success
	LastActionLog     string    `gorm:"column:last_action_log;type:text"`             // JSON of the last attempt's action log
	UpdatedAt         time.Time `gorm:"column:updated_at"`
}

// ActionLog is the per-VM action log (VM Management → Log): one row per
// terminate attempt, successful or not.
type ActionLog struct {
	ID         int       `gorm:"column:id;primaryKey;autoIncrement"`
	ServiceID  int       `gorm:"column:service_id;uniqueIndex:idx_service_attempt;not null"`
	Attempt    int       `gorm:"column:attempt;uniqueIndex:idx_service_attempt;not null"`
	Action     string    `gorm:"column:action;size:32;not null"` // "terminate"
	StartedAt  time.Time `gorm:"column:started_at"`
	DurationMS int64     `gorm:"column:duration_ms"`
	Phase      string    `gorm:"column:phase;size:32"`  // last phase reached
	Result     string    `gorm:"column:result;size:16"` // success | error
	Errors     string    `gorm:"column:errors;type:text"`
	Lines      string    `gorm:"column:lines;type:mediumtext"`
}
