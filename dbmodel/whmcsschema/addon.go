package whmcsschema

import (
	_ "embed"

	"gorm.io/gorm"
)

//go:embed addon.sql
var addonSchema string

// CreateAddonTables creates the WHMCS tables the proxmoxterminate addon
// reads or writes besides tblhosting and the logs: tblproducts,
// tbladdonmodules, tbltodolist and tbladmins (MySQL/MariaDB; tests only).
func CreateAddonTables(db *gorm.DB) error { return run(db, addonSchema) }

// InsertProduct inserts a tblproducts row whose provisioning module is
// servertype.
func InsertProduct(db *gorm.DB, id int, name, servertype string) error {
	return db.Exec(`INSERT INTO tblproducts (id, type, gid, name, description, hidden, paytype, autosetup, servertype,
		servergroup, configoption1, configoption2, configoption3, configoption4)
		VALUES (?, 'server', 1, ?, '', 0, 'recurring', 'payment', ?, 1, '', '', '', '')`, id, name, servertype).Error
}

// InsertAdmin inserts an enabled tbladmins row with the role.
func InsertAdmin(db *gorm.DB, id, roleID int, username string) error {
	return db.Exec(`INSERT INTO tbladmins (id, roleid, username, firstname, lastname, email, disabled)
		VALUES (?, ?, ?, 'Test', 'Admin', 'admin@example.com', 0)`, id, roleID, username).Error
}

// SetAddonSettings writes an addon's tbladdonmodules rows as WHMCS does on
// Configure (one row per setting; "access" holds the role ids).
func SetAddonSettings(db *gorm.DB, module string, settings map[string]string) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM tbladdonmodules WHERE module = ?", module).Error; err != nil {
			return err
		}
		for k, v := range settings {
			if err := tx.Exec("INSERT INTO tbladdonmodules (module, setting, value) VALUES (?, ?, ?)", module, k, v).Error; err != nil {
				return err
			}
		}
		return nil
	})
}
