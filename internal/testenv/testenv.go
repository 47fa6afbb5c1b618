// Package testenv starts and connects the real services the integration
// tests use: MariaDB (a fresh database per test), the Temporal dev server
// (the pinned temporal CLI) and, through dns/powerdns/pdnstest, PowerDNS.
// A missing service FAILS the test with the command that provides it:
// no integration test is ever skipped.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// RepoRoot is the repository root (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// MySQLBase is the server DSN without a database: $TEST_MYSQL_DSN or
// root with an empty password on 127.0.0.1:3306.
func MySQLBase() string {
	if v := os.Getenv("TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// NewDatabase creates a fresh MariaDB database with WHMCS's tables (from
// the committed schema) and this project's tables, and drops it after the test.
func NewDatabase(t testing.TB) (*dbmodel.Store, dbmodel.Config) {
	t.Helper()
	admin, err := gorm.Open(mysql.Open(MySQLBase()), &gorm.Config{Logger: logger.Discard})
	if err == nil {
		err = admin.Exec("SELECT 1").Error
	}
	if err != nil {
		t.Fatalf("MariaDB at %s is not reachable (%v): install and start it (apt-get install mariadb-server; mariadbd) or set TEST_MYSQL_DSN", MySQLBase(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "pt_test_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4").Error; err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		if db, err := admin.DB(); err == nil {
			db.Close()
		}
	})
	cfg := dbmodel.Config{Driver: "mysql", DSN: MySQLBase() + name + "?parseTime=true&loc=UTC"}.WithDefaults()
	store, err := dbmodel.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := whmcsschema.Create(store.DB()); err != nil {
		t.Fatal(err)
	}
	if err := store.MigrateOwnTables(); err != nil {
		t.Fatal(err)
	}
	return store, cfg
}

// TemporalCLI is the pinned temporal CLI: $TEMPORAL_CLI or bin/temporal
// (built by `make bin/temporal` from tools.mod).
func TemporalCLI() (string, error) {
	p := os.Getenv("TEMPORAL_CLI")
	if p == "" {
		p = filepath.Join(RepoRoot(), "bin", "temporal")
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("temporal CLI not found at %s: run `make bin/temporal` (builds the pinned v1.5.1 from tools.mod)", p)
	}
	return p, nil
}

var (
	devOnce   sync.Once
	devServer *testsuite.DevServer
	devErr    error
)

// DevServer returns the package's shared Temporal dev server, started on
// first use from the pinned CLI. Call StopDevServer from TestMain.
func DevServer(t testing.TB) *testsuite.DevServer {
	t.Helper()
	devOnce.Do(func() {
		path, err := TemporalCLI()
		if err != nil {
			devErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		devServer, devErr = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath:  path,
			ClientOptions: &client.Options{Namespace: "default"},
			LogLevel:      "error",
			ExtraArgs:     pipeline.DevServerArgs(),
			Stdout:        io.Discard,
			Stderr:        io.Discard,
		})
	})
	if devErr != nil {
		t.Fatalf("temporal dev server: %v", devErr)
	}
	return devServer
}

// StopDevServer stops the shared dev server, if started.
func StopDevServer() {
	if devServer != nil {
		_ = devServer.Stop()
	}
}

// BuildBinary builds a command of this module into dir and returns its path.
func BuildBinary(t testing.TB, pkg, dir string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
