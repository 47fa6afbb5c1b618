package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
)

// Database is a fresh MariaDB database with WHMCS's tables (from the
// committed schema) and this project's tables.
type Database struct {
	Name   string
	Base   string         // the server DSN without a database
	Config dbmodel.Config // the database's config (parseTime, UTC)
	Store  *dbmodel.Store

	admin *gorm.DB
}

// CreateDatabase creates a database named prefix_<random hex> on the
// server base (MySQLBase() when empty). Close it when done.
func CreateDatabase(base, prefix string) (d *Database, err error) {
	if base == "" {
		base = MySQLBase()
	}
	d = &Database{Base: base}
	defer func() {
		if err != nil {
			d.Close(false)
		}
	}()
	d.admin, err = gorm.Open(mysql.Open(base), &gorm.Config{Logger: logger.Discard})
	if err == nil {
		err = d.admin.Exec("SELECT 1").Error
	}
	if err != nil {
		return nil, fmt.Errorf("MariaDB at %s is not reachable (%v): install and start it (apt-get install mariadb-server; mariadbd) or set TEST_MYSQL_DSN", base, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	if err := d.admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4").Error; err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	d.Name = name
	d.Config = dbmodel.Config{Driver: "mysql", DSN: base + name + "?parseTime=true&loc=UTC"}.WithDefaults()
	if d.Store, err = dbmodel.Open(d.Config); err != nil {
		return nil, err
	}
	if err := whmcsschema.Create(d.Store.DB()); err != nil {
		return nil, err
	}
	if err := d.Store.MigrateOwnTables(); err != nil {
		return nil, err
	}
	return d, nil
}

// Close closes the store and drops the database unless keep is set.
func (d *Database) Close(keep bool) {
	if d.Store != nil {
		_ = d.Store.Close()
		d.Store = nil
	}
	if d.admin == nil {
		return
	}
	if d.Name != "" && !keep {
		d.admin.Exec("DROP DATABASE IF EXISTS `" + d.Name + "`")
	}
	if db, err := d.admin.DB(); err == nil {
		db.Close()
	}
	d.admin = nil
}

// NewDatabase creates a fresh database for t and drops it after the test.
func NewDatabase(t testing.TB) (*dbmodel.Store, dbmodel.Config) {
	t.Helper()
	d, err := CreateDatabase("", "pt_test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(false) })
	return d.Store, d.Config
}

// NewUnmigratedDatabase is NewDatabase for a WHMCS database whose own
// tables were never migrated: the schema table is dropped.
func NewUnmigratedDatabase(t testing.TB) (*dbmodel.Store, dbmodel.Config) {
	t.Helper()
	store, cfg := NewDatabase(t)
	if err := store.DB().Exec("DROP TABLE " + dbmodel.SchemaTable).Error; err != nil {
		t.Fatal(err)
	}
	return store, cfg
}

// UnmigratedConfig writes a config file for a fresh unmigrated database
// (NewUnmigratedDatabase) with Temporal and Proxmox at unreachable
// addresses; the Proxmox token secret is read from secretEnv, set to
// secret for the test.
func UnmigratedConfig(t *testing.T, secretEnv, secret string) (string, *dbmodel.Store) {
	t.Helper()
	store, cfg := NewUnmigratedDatabase(t)
	t.Setenv(secretEnv, secret)
	path := filepath.Join(t.TempDir(), "config.yaml")
	body := fmt.Sprintf(`temporal: {address: "127.0.0.1:1"}
database: {driver: mysql, dsn: %q}
proxmox:
  - {name: pve, url: "https://127.0.0.1:1", token_id: "t@pve!w", token_secret_env: %s, insecure: true}
`, cfg.DSN, secretEnv)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, store
}
