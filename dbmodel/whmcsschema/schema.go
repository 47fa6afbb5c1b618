// Package whmcsschema creates WHMCS's own tables (tblhosting, tblactivitylog,
// tblmodulelog) for tests and the demo. Production code never imports it:
// WHMCS owns those tables.
package whmcsschema

import (
	_ "embed"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

//go:embed mysql.sql
var mysqlSchema string

//go:embed sqlite.sql
var sqliteSchema string

// Create runs the schema for the connection's dialect.
func Create(db *gorm.DB) error {
	schema := mysqlSchema
	if db.Dialector.Name() == "sqlite" {
		schema = sqliteSchema
	}
	return run(db, schema)
}

// run executes a schema file's statements one by one, skipping those that
// are only comments.
func run(db *gorm.DB, schema string) error {
	for _, stmt := range strings.Split(schema, ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if err := db.Exec(stmt).Error; err != nil {
			return fmt.Errorf("whmcs schema: %w", err)
		}
	}
	return nil
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Service is a tblhosting row to seed.
type Service struct {
	ID          int
	UserID      int
	Domain      string
	DedicatedIP string
	AssignedIPs string // newline-separated, as WHMCS stores them
	Status      string // domainstatus; default Active
}

// InsertService inserts a tblhosting row with WHMCS's NOT NULL columns filled.
func InsertService(db *gorm.DB, s Service) error {
	if s.Status == "" {
		s.Status = "Active"
	}
	return db.Exec(`INSERT INTO tblhosting (id, userid, orderid, packageid, server, regdate, domain, paymentmethod,
		billingcycle, nextinvoicedate, domainstatus, username, password, notes, subscriptionid, promoid,
		suspendreason, overideautosuspend, overidesuspenduntil, dedicatedip, assignedips, ns1, ns2)
		VALUES (?, ?, 1, 1, 1, '2026-01-01', ?, 'banktransfer', 'Monthly', '2026-12-01', ?, 'root', '', '', '', 0,
		'', 0, '2026-01-01', ?, ?, '', '')`,
		s.ID, s.UserID, s.Domain, s.Status, s.DedicatedIP, s.AssignedIPs).Error
}
