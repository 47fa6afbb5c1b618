// Package testenv starts and connects the real services of the one
// integration environment, at the process level: MariaDB (a fresh database
// with WHMCS's tables and ours: NewDatabase per test, CreateDatabase for the
// chaos run and the benchmark), the Temporal dev server from the pinned
// temporal CLI (DevServer, shared by a test binary; DevServerProc, a child
// process on a file database that can be stopped and restarted), the
// commands built as an operator builds them (Build), and child processes a
// run can SIGKILL and restart (Proc). PowerDNS comes from
// dns/powerdns/pdnstest; package stack assembles the pipeline on top.
// A missing service FAILS the test with the command that provides it:
// no integration test is ever skipped.
package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

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
	shared    Temporal
	devErr    error
)

// Temporal is the Temporal server a test binary's tests share.
type Temporal interface {
	FrontendHostPort() string
	Client() client.Client // namespace default
}

// ExternalTemporalEnv names a running Temporal frontend (host:port) that
// the tests use instead of starting the dev server: `make test-cluster`
// points it at the real server of `make cluster`.
const ExternalTemporalEnv = "TEST_TEMPORAL_ADDRESS"

type external struct {
	addr string
	c    client.Client
}

func (e external) FrontendHostPort() string { return e.addr }
func (e external) Client() client.Client    { return e.c }

// DevServer returns the server the package's tests share: the Temporal dev
// server, started on first use from the pinned CLI, or the server at
// $TEST_TEMPORAL_ADDRESS. Call StopDevServer from TestMain.
func DevServer(t testing.TB) Temporal {
	t.Helper()
	devOnce.Do(func() {
		if addr := os.Getenv(ExternalTemporalEnv); addr != "" {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Dial(ctx, addr, nil)
			if err != nil {
				devErr = fmt.Errorf("%s=%s: %w (make cluster starts it)", ExternalTemporalEnv, addr, err)
				return
			}
			shared = external{addr: addr, c: c}
			return
		}
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
		if devErr == nil {
			shared = devServer
		}
	})
	if devErr != nil {
		t.Fatalf("temporal dev server: %v", devErr)
	}
	return shared
}

// StopDevServer stops the shared dev server, if started.
func StopDevServer() {
	if devServer != nil {
		_ = devServer.Stop()
	}
}

// Main runs a test binary's tests, stops the shared dev server, removes
// the binaries Binary built, runs the cleanups and exits with the tests'
// code. Call it from TestMain.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	StopDevServer()
	removeBinaries()
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}
