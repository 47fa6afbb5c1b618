package dbmodel

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/proxmox-terminate/proxmox-terminate/internal/secret"
)

// Config selects the database and names this project's tables.
type Config struct {
	Driver         string `yaml:"driver" json:"driver"`                     // mysql (WHMCS's MariaDB/MySQL) or sqlite (demo)
	DSN            string `yaml:"dsn" json:"dsn"`                           // e.g. whmcs:pw@tcp(127.0.0.1:3306)/whmcs?parseTime=true
	DSNEnv         string `yaml:"dsn_env" json:"dsn_env"`                   // or: the env var holding the DSN
	VMTable        string `yaml:"vm_table" json:"vm_table"`                 // ours; default mod_proxmoxterminate_vms
	ActionLogTable string `yaml:"action_log_table" json:"action_log_table"` // ours; default mod_proxmoxterminate_action_log
	ModuleName     string `yaml:"module_name" json:"module_name"`           // tblmodulelog.module; default puqProxmoxKVM
	// VMSource says where a service's VM location comes from (default own).
	VMSource SourceConfig `yaml:"vm_source" json:"vm_source"`
}

// Our tables' default names, in WHMCS's namespace for module tables.
const (
	DefaultVMTable        = "mod_proxmoxterminate_vms"
	DefaultActionLogTable = "mod_proxmoxterminate_action_log"
)

// WithDefaults fills the defaults.
func (c Config) WithDefaults() Config {
	if c.Driver == "" {
		c.Driver = "mysql"
	}
	if c.VMTable == "" {
		c.VMTable = DefaultVMTable
	}
	if c.ActionLogTable == "" {
		c.ActionLogTable = DefaultActionLogTable
	}
	if c.ModuleName == "" {
		c.ModuleName = "puqProxmoxKVM"
	}
	c.VMSource = c.VMSource.WithDefaults()
	return c
}

// ResolvedDSN returns the DSN from the file or the environment.
func (c Config) ResolvedDSN() string { return secret.Value(c.DSN, c.DSNEnv) }

// Validate checks the configuration without echoing the DSN (it holds a password).
func (c Config) Validate() error {
	c = c.WithDefaults()
	var problems []string
	if c.Driver != "mysql" && c.Driver != "sqlite" {
		problems = append(problems, fmt.Sprintf("driver %q is not mysql or sqlite", c.Driver))
	}
	if p := secret.Problem("dsn", c.DSN, c.DSNEnv); p != "" {
		problems = append(problems, p)
	}
	for _, t := range []string{c.VMTable, c.ActionLogTable} {
		if !validIdent(t) {
			problems = append(problems, fmt.Sprintf("table name %q is not a plain SQL identifier", t))
		}
	}
	problems = append(problems, c.VMSource.Validate()...)
	for table := range c.VMSource.ForeignTables() {
		for _, own := range []string{c.VMTable, c.ActionLogTable, SchemaTable} {
			if strings.EqualFold(table, own) {
				problems = append(problems, fmt.Sprintf("vm_source reads %q, which is one of our own tables", table))
			}
		}
	}
	if strings.EqualFold(c.VMTable, c.ActionLogTable) {
		problems = append(problems, fmt.Sprintf("vm_table and action_log_table are both %q", c.VMTable))
	}
	for _, t := range []string{c.VMTable, c.ActionLogTable} {
		if strings.EqualFold(t, SchemaTable) {
			problems = append(problems, fmt.Sprintf("table name %q is reserved for the schema version", t))
		}
	}
	if len(problems) > 0 {
		return errors.New("database: " + strings.Join(problems, "; "))
	}
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Store is the database access of the starter and the worker.
type Store struct {
	db  *gorm.DB
	cfg Config
	Now func() time.Time
}

// Open connects. It creates nothing.
func Open(cfg Config) (*Store, error) { return OpenContext(context.Background(), cfg) }

// OpenContext connects within ctx: a MySQL server that accepts the
// connection and then never answers fails when ctx ends, before gorm's own
// first query (SELECT VERSION(), which takes no context) could hang on it.
// It creates nothing.
func OpenContext(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cannot := func(err error) error {
		return fmt.Errorf("database: cannot connect (%s): %s", cfg.Driver, redactDSN(err.Error(), cfg.ResolvedDSN()))
	}
	var dial gorm.Dialector
	switch cfg.Driver {
	case "mysql":
		pool, err := sql.Open("mysql", mysqlDSN(cfg.ResolvedDSN()))
		if err != nil {
			return nil, cannot(err)
		}
		if err := pool.PingContext(ctx); err != nil {
			pool.Close()
			return nil, cannot(err)
		}
		dial = mysql.New(mysql.Config{Conn: pool}) // the version query reuses the pinged connection
	case "sqlite":
		dial = sqlite.Open(cfg.ResolvedDSN())
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		return nil, cannot(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if cfg.Driver == "sqlite" {
		sqlDB.SetMaxOpenConns(1) // one writer; avoids SQLITE_BUSY between our goroutines
		db.Exec("PRAGMA busy_timeout = 5000")
		db.Exec("PRAGMA journal_mode = WAL")
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
	}
	return &Store{db: db, cfg: cfg, Now: func() time.Time { return time.Now().UTC() }}, nil
}

// mysqlDSN turns on client-side parameter interpolation (one round trip
// per statement instead of prepare + execute + close: test/bench/README.md
// measured 86 → 44 round trips per run) and UTC timestamps, unless the
// operator's DSN says otherwise.
func mysqlDSN(dsn string) string {
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return dsn // gorm reports the parse error
	}
	if !strings.Contains(dsn, "interpolateParams=") {
		c.InterpolateParams = true
	}
	if !strings.Contains(dsn, "parseTime=") {
		c.ParseTime = true
	}
	return c.FormatDSN()
}

func redactDSN(msg, dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 {
		if j := strings.Index(dsn[:i], ":"); j >= 0 && j+1 < i {
			msg = strings.ReplaceAll(msg, dsn[j+1:i], "[redacted]")
		}
	}
	return msg
}

// DB exposes the connection to tests and the demo.
func (s *Store) DB() *gorm.DB { return s.db }

// Config returns the configuration in force (with defaults).
func (s *Store) Config() Config { return s.cfg }

// Close closes the pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %s", redactDSN(err.Error(), s.cfg.ResolvedDSN()))
	}
	return nil
}

func (s *Store) vm(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx).Table(s.cfg.VMTable) }

// RequiredWHMCSColumns are the columns of WHMCS's tables this project uses.
var RequiredWHMCSColumns = map[string][]string{
	"tblhosting":     {"id", "userid", "domain", "dedicatedip", "assignedips", "domainstatus"},
	"tblactivitylog": {"id", "date", "description", "user", "userid", "user_id", "admin_id", "ipaddr"},
	"tblmodulelog":   {"id", "date", "module", "action", "request", "response", "arrdata"},
}

// CheckWHMCSSchema verifies that WHMCS's tables, and the tables the VM
// source reads, have the columns we use.
func (s *Store) CheckWHMCSSchema() error {
	m := s.db.Migrator()
	var problems []string
	required := map[string][]string{}
	tables := []string{"tblhosting", "tblactivitylog", "tblmodulelog"}
	for t, cols := range RequiredWHMCSColumns {
		required[t] = cols
	}
	foreign := s.cfg.VMSource.ForeignTables()
	for t, cols := range foreign {
		required[t] = cols
		tables = append(tables, t)
	}
	sort.Strings(tables[3:])
	for _, table := range tables {
		if !m.HasTable(table) {
			problems = append(problems, fmt.Sprintf("table %s is missing", table))
			continue
		}
		cols, err := m.ColumnTypes(table)
		if err != nil {
			return fmt.Errorf("read columns of %s: %w", table, err)
		}
		have := map[string]bool{}
		for _, c := range cols {
			have[strings.ToLower(c.Name())] = true
		}
		for _, want := range required[table] {
			if !have[want] {
				problems = append(problems, fmt.Sprintf("%s.%s is missing", table, want))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the database does not look like a WHMCS database: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ErrNotFound is returned when the service or its VM row does not exist.
var ErrNotFound = errors.New("not found")

// Service is a WHMCS service with its VM row.
type Service struct {
	Hosting Hosting
	VM      VMInfo
}

// LoadService reads tblhosting and the VM row of one service.
func (s *Store) LoadService(ctx context.Context, serviceID int) (Service, error) {
	var svc Service
	err := s.db.WithContext(ctx).Where("id = ?", serviceID).Take(&svc.Hosting).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return svc, fmt.Errorf("service %d does not exist in tblhosting: %w", serviceID, ErrNotFound)
	}
	if err != nil {
		return svc, fmt.Errorf("read service %d: %w", serviceID, err)
	}
	if s.cfg.VMSource.Foreign() {
		return s.loadForeign(ctx, svc)
	}
	err = s.vm(ctx).Where("service_id = ?", serviceID).Take(&svc.VM).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return svc, fmt.Errorf("service %d has no VM row in %s: %w", serviceID, s.cfg.VMTable, ErrNotFound)
	}
	if err != nil {
		return svc, fmt.Errorf("read VM row of service %d: %w", serviceID, err)
	}
	return svc, nil
}

// SetStatus sets vm_status of a service's VM row (and mirrors it into a
// mapped source's status column, in the same transaction).
func (s *Store) SetStatus(ctx context.Context, serviceID int, status string) error {
	if !s.mirrors() {
		return s.setStatus(s.db.WithContext(ctx), serviceID, status)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.setStatus(tx, serviceID, status) })
}

func (s *Store) setStatus(tx *gorm.DB, serviceID int, status string) error {
	res := tx.Table(s.cfg.VMTable).Where("service_id = ?", serviceID).
		Updates(map[string]any{"vm_status": status, "updated_at": s.Now()})
	if res.Error != nil {
		return fmt.Errorf("set vm_status of service %d: %w", serviceID, res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		tx.Table(s.cfg.VMTable).Where("service_id = ?", serviceID).Count(&n)
		if n == 0 {
			return fmt.Errorf("service %d has no VM row: %w", serviceID, ErrNotFound)
		}
	}
	return s.mirrorStatus(tx, serviceID, status)
}

// DeleteRecord removes the VM row only (spec "Delete Record"): it touches
// neither Proxmox nor tblhosting.
func (s *Store) DeleteRecord(ctx context.Context, serviceID int) error {
	return s.vm(ctx).Where("service_id = ?", serviceID).Delete(&VMInfo{}).Error
}

// Outcome is what an attempt's last step writes.
type Outcome struct {
	ServiceID int
	UserID    int // tblhosting.userid, for the activity log
	Attempt   int
	StartedAt time.Time
	Duration  time.Duration
	Phase     string
	Reason    string   // failure reason, "" on success
	Errors    []string // every non-blocking error of the attempt
	Lines     []string // the attempt's live lines
}

// Activity-log texts (spec wording).
const (
	SuccessText = "Service terminated successfully"
	FailurePref = "Service termination FAILED — admin attention required. Error: "
)

// FinishSuccess is Clean DB, in one transaction: wipe tblhosting's
// dedicatedip, assignedips and domain; clear the VM row's identity; set
// vm_status='remove'; one activity-log entry; the action log. It is
// idempotent per attempt: a retry after a commit changes nothing and
// reports done=false.
func (s *Store) FinishSuccess(ctx context.Context, o Outcome) (done bool, err error) {
	return s.finish(ctx, o, true)
}

// FinishFailure is the failure path, in one transaction: vm_status =
// 'error_terminate', one activity-log entry with the reason, the action log.
// IPs, domain and the VM identity stay. Idempotent per attempt.
func (s *Store) FinishFailure(ctx context.Context, o Outcome) (done bool, err error) {
	return s.finish(ctx, o, false)
}

func (s *Store) finish(ctx context.Context, o Outcome, success bool) (bool, error) {
	now := s.Now()
	result, desc := "error", FailurePref+o.Reason
	vmUpdate := map[string]any{
		"vm_status": StatusErrorTerminate, "terminate_attempts": o.Attempt,
		"last_error": o.Reason, "updated_at": now,
	}
	if success {
		result, desc = "success", SuccessText
		vmUpdate = map[string]any{
			"vm_status": StatusRemove, "terminate_attempts": o.Attempt, "last_error": "",
			"server": "", "node": "", "vmid": 0, "vm_name": "", "vm_uuid": "",
			"ipv4": "", "ipv6": "", "hostname": "", "updated_at": now,
		}
	}
	actionJSON, _ := json.Marshal(map[string]any{
		"attempt": o.Attempt, "started_at": o.StartedAt.UTC().Format(time.RFC3339),
		"duration_ms": o.Duration.Milliseconds(), "phase": o.Phase, "result": result, "errors": o.Errors,
	})
	vmUpdate["last_action_log"] = string(actionJSON)

	wrote := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Table(s.cfg.VMTable).Where("service_id = ? AND terminate_attempts < ?", o.ServiceID, o.Attempt).Updates(vmUpdate)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Table(s.cfg.VMTable).Where("service_id = ?", o.ServiceID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("service %d has no VM row: %w", o.ServiceID, ErrNotFound)
			}
			return nil // this attempt's outcome is already written
		}
		if err := s.mirrorStatus(tx, o.ServiceID, vmUpdate["vm_status"].(string)); err != nil {
			return err
		}
		if success {
			if err := tx.Model(&Hosting{}).Where("id = ?", o.ServiceID).
				Updates(map[string]any{"dedicatedip": "", "assignedips": "", "domain": ""}).Error; err != nil {
				return err
			}
		}
		if err := tx.Create(&ActivityLog{Date: now, Description: desc, User: "System", UserID: o.UserID}).Error; err != nil {
			return err
		}
		errs := strings.Join(o.Errors, "\n")
		if !success && o.Reason != "" {
			errs = strings.TrimSpace(o.Reason + "\n" + errs)
		}
		if err := tx.Table(s.cfg.ActionLogTable).Create(&ActionLog{
			ServiceID: o.ServiceID, Attempt: o.Attempt, Action: "terminate", StartedAt: o.StartedAt.UTC(),
			DurationMS: o.Duration.Milliseconds(), Phase: o.Phase, Result: result,
			Errors: errs, Lines: strings.Join(o.Lines, "\n"),
		}).Error; err != nil {
			return err
		}
		wrote = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("write outcome of service %d attempt %d: %w", o.ServiceID, o.Attempt, err)
	}
	return wrote, nil
}

// ActivityLogs returns a client's activity-log rows (tests, status).
func (s *Store) ActivityLogs(ctx context.Context, userID int) ([]ActivityLog, error) {
	var rows []ActivityLog
	err := s.db.WithContext(ctx).Where("userid = ?", userID).Order("id").Find(&rows).Error
	return rows, err
}

// ActionLogs returns a service's action-log rows.
func (s *Store) ActionLogs(ctx context.Context, serviceID int) ([]ActionLog, error) {
	var rows []ActionLog
	err := s.db.WithContext(ctx).Table(s.cfg.ActionLogTable).Where("service_id = ?", serviceID).Order("attempt").Find(&rows).Error
	return rows, err
}

// InsertVM creates a VM row (tests, the demo, and provisioning tools).
func (s *Store) InsertVM(ctx context.Context, vm VMInfo) error {
	vm.UpdatedAt = s.Now()
	return s.vm(ctx).Create(&vm).Error
}

// WriteModuleLog writes one tblmodulelog row. The caller redacts secrets.
func (s *Store) WriteModuleLog(ctx context.Context, action, request, response string, arr any) error {
	data, _ := json.Marshal(arr)
	return s.db.WithContext(ctx).Create(&ModuleLog{
		Date: s.Now(), Module: s.cfg.ModuleName, Action: action,
		Request: request, Response: response, ArrData: string(data),
	}).Error
}

// ModuleLogs returns every tblmodulelog row of our module (tests).
func (s *Store) ModuleLogs(ctx context.Context) ([]ModuleLog, error) {
	var rows []ModuleLog
	err := s.db.WithContext(ctx).Where("module = ?", s.cfg.ModuleName).Order("id").Find(&rows).Error
	return rows, err
}

// CountStatus counts VM rows in a vm_status (e.g. runs waiting for an admin).
func (s *Store) CountStatus(ctx context.Context, status string) (int64, error) {
	var n int64
	err := s.vm(ctx).Where("vm_status = ?", status).Count(&n).Error
	return n, err
}

// ServicesWithStatus lists the service ids whose VM row has vm_status.
func (s *Store) ServicesWithStatus(ctx context.Context, status string, limit int) ([]int, error) {
	var ids []int
	err := s.vm(ctx).Where("vm_status = ?", status).Order("service_id").Limit(limit).Pluck("service_id", &ids).Error
	return ids, err
}
