package whmcsschema

import (
	_ "embed"

	"gorm.io/gorm"
)

//go:embed pvewhmcs.sql
var pvewhmcsSchema string

// CreatePVEWHMCS creates the tables of Proxmox-VE-for-WHMCS that the
// pvewhmcs VM source reads (MySQL/MariaDB; tests only).
func CreatePVEWHMCS(db *gorm.DB) error { return run(db, pvewhmcsSchema) }

// PVEWHMCSNode is a mod_pvewhmcs_nodes row to seed.
type PVEWHMCSNode struct {
	ID      int
	PVEName string // the node's name on Proxmox
	WHMCSID int    // tblservers.id of the WHMCS server the node belongs to
}

// InsertPVEWHMCSNode inserts a node row with the NOT NULL columns filled.
func InsertPVEWHMCSNode(db *gorm.DB, n PVEWHMCSNode) error {
	return db.Exec("INSERT INTO mod_pvewhmcs_nodes (id, pve_id, pve_name, whmcs_id, title, ip, created) VALUES (?, ?, ?, ?, ?, '10.0.0.1', '2026-01-01 00:00:00')",
		n.ID, n.ID, n.PVEName, n.WHMCSID, "node "+n.PVEName).Error
}

// PVEWHMCSVM is a mod_pvewhmcs_vms row to seed.
type PVEWHMCSVM struct {
	ServiceID int // id = tblhosting.id
	VMID      int
	NodeID    int
	UserID    int
	VType     string // qemu or lxc
	IPAddress string
	V6Prefix  string
}

// InsertPVEWHMCSVM inserts a guest row.
func InsertPVEWHMCSVM(db *gorm.DB, v PVEWHMCSVM) error {
	return db.Exec("INSERT INTO mod_pvewhmcs_vms (id, vmid, node_id, user_id, vtype, ipaddress, subnetmask, gateway, created, v6prefix) VALUES (?, ?, ?, ?, ?, ?, '255.255.255.0', '192.0.2.1', '2026-01-01 00:00:00', ?)",
		v.ServiceID, v.VMID, v.NodeID, v.UserID, v.VType, v.IPAddress, v.V6Prefix).Error
}

// MappedModuleTable is a test stand-in for another provisioning module's
// VM table, read by a mapped VM source: the service id, vmid, node and
// server in columns of its own naming, its own status column, and columns
// we never read.
const MappedModuleTable = "mod_othervps_guests"

// CreateMappedModule creates MappedModuleTable (MySQL/MariaDB; tests only).
func CreateMappedModule(db *gorm.DB) error {
	return db.Exec("CREATE TABLE IF NOT EXISTS `" + MappedModuleTable + "` (" +
		"`guest_id` int(10) unsigned NOT NULL AUTO_INCREMENT, `hosting_id` int(10) NOT NULL, `pve_vmid` int(10) DEFAULT NULL, " +
		"`pve_node` varchar(64) NOT NULL DEFAULT '', `cluster` varchar(64) NOT NULL DEFAULT '', `state` varchar(32) NOT NULL DEFAULT 'active', " +
		"`root_password` text, `os_template` varchar(255) NOT NULL DEFAULT '', PRIMARY KEY (`guest_id`), UNIQUE KEY `hosting_id` (`hosting_id`)" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4").Error
}
