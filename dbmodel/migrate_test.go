package dbmodel_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// freshDatabase creates a MariaDB database with WHMCS's tables and none of
// ours, dropped after the test.
func freshDatabase(t *testing.T) dbmodel.Config {
	t.Helper()
	admin, err := gorm.Open(mysql.Open(testenv.MySQLBase()), &gorm.Config{Logger: logger.Discard})
	if err == nil {
		err = admin.Exec("SELECT 1").Error
	}
	if err != nil {
		t.Fatalf("MariaDB at %s is not reachable (%v): install and start it (apt-get install mariadb-server; mariadbd) or set TEST_MYSQL_DSN", testenv.MySQLBase(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pt_mig_" + hex.EncodeToString(b)
	require.NoError(t, admin.Exec("CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4").Error)
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		if db, err := admin.DB(); err == nil {
			db.Close()
		}
	})
	cfg := dbmodel.Config{Driver: "mysql", DSN: testenv.MySQLBase() + name + "?parseTime=true&loc=UTC"}.WithDefaults()
	s := open(t, cfg)
	require.NoError(t, whmcsschema.Create(s.DB()))
	return cfg
}

func open(t *testing.T, cfg dbmodel.Config) *dbmodel.Store {
	t.Helper()
	s, err := dbmodel.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func tables(t *testing.T, s *dbmodel.Store) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.DB().Raw("SHOW TABLES").Scan(&out).Error)
	return out
}

// Several migrations racing on a fresh database all succeed; exactly one
// creates the tables, the others find them current; a later run is a no-op.
func TestMigrateRacingOnFreshDatabase(t *testing.T) {
	cfg := freshDatabase(t)
	const n = 4
	reports := make([]dbmodel.MigrateReport, n)
	errs := make([]error, n)
	stores := make([]*dbmodel.Store, n)
	for i := range stores {
		stores[i] = open(t, cfg)
	}
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			reports[i], errs[i] = stores[i].Migrate(context.Background())
		}()
	}
	start.Done()
	done.Wait()
	created := map[string]int{}
	for i := range n {
		require.NoError(t, errs[i], "run %d", i)
		for _, l := range reports[i].Lines {
			if strings.HasPrefix(l, "created table ") {
				created[strings.Fields(l)[2]]++
			}
		}
	}
	require.Equal(t, map[string]int{dbmodel.SchemaTable: 1, dbmodel.DefaultVMTable: 1, dbmodel.DefaultActionLogTable: 1}, created,
		"each table is created by exactly one run: %v", reports)
	require.NoError(t, stores[0].CheckSchema(context.Background()))

	again, err := stores[1].Migrate(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{
		dbmodel.DefaultVMTable + ": at schema version 1, nothing to do",
		dbmodel.DefaultActionLogTable + ": at schema version 1, nothing to do",
	}, again.Lines)
}

// A database without our tables is refused with one line naming the command.
func TestCheckSchemaRefusesUnmigrated(t *testing.T) {
	cfg := freshDatabase(t)
	s := open(t, cfg)
	err := s.CheckSchema(context.Background())
	require.ErrorIs(t, err, dbmodel.ErrSchema)
	require.Contains(t, err.Error(), "worker migrate --config FILE")
	require.NotContains(t, err.Error(), "\n")

	// Migrated for other table names only: still refused, naming ours.
	other := cfg
	other.VMTable, other.ActionLogTable = "pt_other_vms", "pt_other_log"
	require.NoError(t, open(t, other).MigrateOwnTables())
	err = s.CheckSchema(context.Background())
	require.ErrorIs(t, err, dbmodel.ErrSchema)
	require.Contains(t, err.Error(), dbmodel.DefaultVMTable+" is not migrated")

	// A version newer than the binary's asks for a newer binary instead.
	require.NoError(t, s.MigrateOwnTables())
	require.NoError(t, s.CheckSchema(context.Background()))
	require.NoError(t, s.DB().Exec("UPDATE "+dbmodel.SchemaTable+" SET version = 99 WHERE own_table = ?", dbmodel.DefaultVMTable).Error)
	err = s.CheckSchema(context.Background())
	require.ErrorIs(t, err, dbmodel.ErrSchema)
	require.Contains(t, err.Error(), "upgrade this binary")
	_, err = s.Migrate(context.Background())
	require.ErrorContains(t, err, "newer than this binary's 1")
}

// vendorTable is another module's VM table (the shape of the vendor
// module's puqProxmoxKVM_vm_info: columns of its own beside some of ours).
const vendorTable = "CREATE TABLE `%s` (" +
	"`id` int(10) NOT NULL AUTO_INCREMENT, `service_id` int(10) NOT NULL, `vm_status` varchar(32) NOT NULL DEFAULT '', " +
	"`vmid` int(10) NOT NULL DEFAULT 0, `os_template` varchar(255) NOT NULL DEFAULT '', `vm_password` text, " +
	"PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

func checksum(t *testing.T, s *dbmodel.Store, table string) (sum int64, create string) {
	t.Helper()
	var row struct {
		Table    string
		Checksum int64
	}
	require.NoError(t, s.DB().Raw("CHECKSUM TABLE `"+table+"`").Scan(&row).Error)
	var sc struct {
		Table       string `gorm:"column:Table"`
		CreateTable string `gorm:"column:Create Table"`
	}
	require.NoError(t, s.DB().Raw("SHOW CREATE TABLE `"+table+"`").Scan(&sc).Error)
	require.NotEmpty(t, sc.CreateTable)
	return row.Checksum, sc.CreateTable
}

// A configured own-table name that is another module's table is refused:
// the table is unchanged (checksum and definition) and nothing is created.
func TestMigrateRefusesForeignTable(t *testing.T) {
	for name, table := range map[string]string{"vm table": "vm", "action log": "log"} {
		t.Run(name, func(t *testing.T) {
			cfg := freshDatabase(t)
			cfg.VMTable, cfg.ActionLogTable = "puqProxmoxKVM_vm_info", "puqProxmoxKVM_action_log"
			foreign := cfg.VMTable
			if table == "log" {
				foreign = cfg.ActionLogTable
			}
			s := open(t, cfg)
			require.NoError(t, s.DB().Exec(strings.Replace(vendorTable, "%s", foreign, 1)).Error)
			require.NoError(t, s.DB().Exec("INSERT INTO `"+foreign+"` (service_id, vm_status, vmid, os_template, vm_password) VALUES (7, 'ready', 101, 'debian-12', 'pw'), (8, 'terminate', 102, 'alma-9', 'pw2')").Error)
			beforeSum, beforeCreate := checksum(t, s, foreign)
			beforeTables := tables(t, s)

			rep, err := s.Migrate(context.Background())
			require.ErrorIs(t, err, dbmodel.ErrSchema)
			require.Contains(t, err.Error(), "table "+foreign+" exists and is not ours (columns os_template, vm_password")
			require.Empty(t, rep.Lines)

			afterSum, afterCreate := checksum(t, s, foreign)
			require.Equal(t, beforeSum, afterSum, "the foreign table's rows are unchanged")
			require.Equal(t, beforeCreate, afterCreate, "the foreign table's definition is unchanged")
			require.ElementsMatch(t, beforeTables, tables(t, s), "nothing was created")
			require.ErrorIs(t, s.CheckSchema(context.Background()), dbmodel.ErrSchema, "and the worker still refuses")
		})
	}
}

// A table an earlier release created (our columns only, one of them not
// yet there, no schema version) is taken over: the missing column is added
// and the version recorded; its rows stay.
func TestMigrateTakesOverAnEarlierReleasesTable(t *testing.T) {
	cfg := freshDatabase(t)
	s := open(t, cfg)
	require.NoError(t, s.DB().Exec("CREATE TABLE `"+cfg.VMTable+"` (`id` bigint AUTO_INCREMENT, `service_id` bigint NOT NULL, "+
		"`vm_status` varchar(32) NOT NULL DEFAULT '', `server` varchar(64) NOT NULL DEFAULT '', `node` varchar(64) NOT NULL DEFAULT '', "+
		"`vmid` bigint NOT NULL DEFAULT 0, `vm_name` varchar(255) NOT NULL DEFAULT '', `vm_uuid` varchar(64) NOT NULL DEFAULT '', "+
		"`ipv4` varchar(255) NOT NULL DEFAULT '', `ipv6` varchar(255) NOT NULL DEFAULT '', `hostname` varchar(255) NOT NULL DEFAULT '', "+
		"`terminate_attempts` bigint NOT NULL DEFAULT 0, `last_error` text, `updated_at` datetime(3) NULL, PRIMARY KEY (`id`))").Error)
	require.NoError(t, s.DB().Exec("INSERT INTO `"+cfg.VMTable+"` (service_id, vm_status, vmid) VALUES (5, 'ready', 300)").Error)
	rep, err := s.Migrate(context.Background())
	require.NoError(t, err)
	require.Contains(t, rep.Lines, cfg.VMTable+": added columns last_action_log; now at schema version 1")
	require.Contains(t, rep.Lines, "created table "+cfg.ActionLogTable+" (schema version 1)")
	require.NoError(t, s.CheckSchema(context.Background()))
	svc, err := s.LoadService(context.Background(), 5)
	require.ErrorIs(t, err, dbmodel.ErrNotFound, "no tblhosting row: but the VM row must still be there")
	_ = svc
	var n int64
	require.NoError(t, s.DB().Table(cfg.VMTable).Where("service_id = 5 AND vmid = 300").Count(&n).Error)
	require.EqualValues(t, 1, n)
}
