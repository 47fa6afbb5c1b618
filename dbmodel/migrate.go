package dbmodel

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
)

// SchemaVersion is the version of this project's own tables that this
// binary reads and writes. `worker migrate` brings the database to it; the
// worker and the starter refuse a database at any other version.
const SchemaVersion = 1

// SchemaTable records the schema version of each of our tables. Its name is
// fixed: it is how a database says which of its tables are ours.
const SchemaTable = "mod_proxmoxterminate_schema"

// MigrateCommand is what an operator runs to migrate.
const MigrateCommand = "worker migrate --config FILE"

// ErrSchema marks a database whose own tables are missing, at another
// version, or not ours.
var ErrSchema = errors.New("schema")

// schemaRow is one row of SchemaTable: the version one of our tables is at.
type schemaRow struct {
	OwnTable  string    `gorm:"column:own_table;primaryKey;size:64"`
	Version   int       `gorm:"column:version;not null"`
	AppliedAt time.Time `gorm:"column:applied_at"`
}

// ownTable is one table this project owns and the model that shapes it.
type ownTable struct {
	name  string
	model any
}

func (s *Store) ownTables() []ownTable {
	return []ownTable{{s.cfg.VMTable, &VMInfo{}}, {s.cfg.ActionLogTable, &ActionLog{}}}
}

// columnsOf returns the column names of model.
func (s *Store) columnsOf(model any) (map[string]bool, error) {
	stmt := &gorm.Statement{DB: s.db}
	if err := stmt.Parse(model); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range stmt.Schema.DBNames {
		out[strings.ToLower(n)] = true
	}
	return out, nil
}

// tableColumns returns the columns of an existing table, or nil when the
// table does not exist.
func tableColumns(db *gorm.DB, table string) ([]string, error) {
	m := db.Migrator()
	if !m.HasTable(table) {
		return nil, nil
	}
	cols, err := m.ColumnTypes(table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	out := make([]string, 0, len(cols))
	for _, c := range cols {
		out = append(out, strings.ToLower(c.Name()))
	}
	return out, nil
}

// MigrateReport is what a migration did, one line per table.
type MigrateReport struct {
	Lines []string
}

func (r *MigrateReport) add(format string, args ...any) {
	r.Lines = append(r.Lines, fmt.Sprintf(format, args...))
}

// migrateLockWait bounds how long a migration waits for another one.
const migrateLockWait = 60 * time.Second

// Migrate brings this project's own tables (the VM table, the action log
// and SchemaTable) to SchemaVersion, and reports what it did. It is
// idempotent, and on MySQL/MariaDB it holds a named lock (GET_LOCK, scoped
// to the database) for its whole run, so concurrent runs wait for each
// other. It checks everything before changing anything: a configured table
// name that exists with columns that are not ours (another module's table)
// is refused and nothing is changed. It never touches WHMCS's tables.
func (s *Store) Migrate(ctx context.Context) (MigrateReport, error) {
	var rep MigrateReport
	err := s.db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		conn = conn.Session(&gorm.Session{NewDB: true}) // every statement fresh, all on this one connection
		if s.cfg.Driver == "mysql" {
			release, err := getLock(conn)
			if err != nil {
				return err
			}
			defer release()
		}
		return s.migrateLocked(conn, &rep)
	})
	return rep, err
}

// getLock takes the database's migration lock on conn's session.
func getLock(conn *gorm.DB) (release func(), err error) {
	const name = "CONCAT('ptmigrate:', SHA1(DATABASE()))"
	var got *int
	if err := conn.Raw(fmt.Sprintf("SELECT GET_LOCK(%s, ?)", name), int(migrateLockWait/time.Second)).Scan(&got).Error; err != nil {
		return nil, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if got == nil || *got != 1 {
		return nil, fmt.Errorf("migrate: another migration has held the lock for %s; try again when it has finished", migrateLockWait)
	}
	return func() { conn.Exec(fmt.Sprintf("SELECT RELEASE_LOCK(%s)", name)) }, nil
}

func (s *Store) migrateLocked(conn *gorm.DB, rep *MigrateReport) error {
	// 1. Check: every table we would touch is absent or ours.
	schemaCols, err := s.columnsOf(&schemaRow{})
	if err != nil {
		return err
	}
	check := func(table string, ours map[string]bool) (exists bool, err error) {
		cols, err := tableColumns(conn, table)
		if err != nil {
			return false, err
		}
		var foreign []string
		for _, c := range cols {
			if !ours[c] {
				foreign = append(foreign, c)
			}
		}
		if len(foreign) > 0 {
			sort.Strings(foreign)
			return true, fmt.Errorf("%w: table %s exists and is not ours (columns %s): nothing was changed; name another table in the config (database.vm_table / database.action_log_table)",
				ErrSchema, table, strings.Join(foreign, ", "))
		}
		return cols != nil, nil
	}
	schemaExists, err := check(SchemaTable, schemaCols)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, t := range s.ownTables() {
		ours, err := s.columnsOf(t.model)
		if err != nil {
			return err
		}
		if exists[t.name], err = check(t.name, ours); err != nil {
			return err
		}
	}
	versions := map[string]int{}
	if schemaExists {
		var rows []schemaRow
		if err := conn.Table(SchemaTable).Find(&rows).Error; err != nil {
			return fmt.Errorf("read %s: %w", SchemaTable, err)
		}
		for _, r := range rows {
			versions[r.OwnTable] = r.Version
		}
	}
	for _, t := range s.ownTables() {
		if v := versions[t.name]; v > SchemaVersion {
			return fmt.Errorf("%w: table %s is at schema version %d, newer than this binary's %d: upgrade the binary", ErrSchema, t.name, v, SchemaVersion)
		}
	}

	// 2. Apply.
	if !schemaExists {
		if err := conn.Table(SchemaTable).AutoMigrate(&schemaRow{}); err != nil {
			return fmt.Errorf("create %s: %w", SchemaTable, err)
		}
		rep.add("created table %s", SchemaTable)
	}
	for _, t := range s.ownTables() {
		if versions[t.name] == SchemaVersion && exists[t.name] {
			rep.add("%s: at schema version %d, nothing to do", t.name, SchemaVersion)
			continue
		}
		before, err := tableColumns(conn, t.name)
		if err != nil {
			return err
		}
		if err := conn.Table(t.name).AutoMigrate(t.model); err != nil {
			return fmt.Errorf("migrate %s: %w", t.name, err)
		}
		after, err := tableColumns(conn, t.name)
		if err != nil {
			return err
		}
		switch {
		case before == nil:
			rep.add("created table %s (schema version %d)", t.name, SchemaVersion)
		default:
			added := newColumns(before, after)
			if len(added) == 0 {
				rep.add("%s: recorded at schema version %d (its columns were already current)", t.name, SchemaVersion)
			} else {
				rep.add("%s: added columns %s; now at schema version %d", t.name, strings.Join(added, ", "), SchemaVersion)
			}
		}
		row := schemaRow{OwnTable: t.name, Version: SchemaVersion, AppliedAt: time.Now().UTC()}
		if err := conn.Table(SchemaTable).Save(&row).Error; err != nil {
			return fmt.Errorf("record schema version of %s: %w", t.name, err)
		}
	}
	return nil
}

func newColumns(before, after []string) []string {
	had := map[string]bool{}
	for _, c := range before {
		had[c] = true
	}
	var out []string
	for _, c := range after {
		if !had[c] {
			out = append(out, c)
		}
	}
	return out
}

// MigrateOwnTables runs Migrate and drops its report (tests and tools that
// set up a database).
func (s *Store) MigrateOwnTables() error {
	_, err := s.Migrate(context.Background())
	return err
}

// CheckSchema verifies that our own tables are at SchemaVersion. The error
// is one line naming the command to run.
func (s *Store) CheckSchema(ctx context.Context) error {
	var rows []schemaRow
	names := []string{s.cfg.VMTable, s.cfg.ActionLogTable}
	err := s.db.WithContext(ctx).Table(SchemaTable).Where("own_table IN ?", names).Find(&rows).Error
	if err != nil {
		if !s.db.WithContext(ctx).Migrator().HasTable(SchemaTable) {
			return fmt.Errorf("%w: the database has no %s table (not migrated): run `%s`", ErrSchema, SchemaTable, MigrateCommand)
		}
		return fmt.Errorf("read %s: %w", SchemaTable, err)
	}
	have := map[string]int{}
	for _, r := range rows {
		have[r.OwnTable] = r.Version
	}
	var problems []string
	newer := false
	for _, n := range names {
		switch v := have[n]; {
		case v == SchemaVersion:
		case v > SchemaVersion:
			newer = true
			problems = append(problems, fmt.Sprintf("%s is at version %d, newer than this binary's %d", n, v, SchemaVersion))
		case v == 0:
			problems = append(problems, fmt.Sprintf("%s is not migrated", n))
		default:
			problems = append(problems, fmt.Sprintf("%s is at version %d, this binary needs %d", n, v, SchemaVersion))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	if newer {
		return fmt.Errorf("%w: %s: upgrade this binary", ErrSchema, strings.Join(problems, "; "))
	}
	return fmt.Errorf("%w: %s: run `%s`", ErrSchema, strings.Join(problems, "; "), MigrateCommand)
}
