// Package cluster runs a real Temporal server (go.temporal.io/server,
// pinned in tools.mod) on PostgreSQL persistence and SQL visibility, with
// all four services in one process, for `make cluster`, the cluster tests
// and the cluster chaos run. It sets the server up as production does:
// temporal-sql-tool creates both schemas, the server starts from a config
// of ours, and deploy/temporal/create-namespace.sh creates the namespace
// and our search attributes.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// Version is the pinned server release (tools.mod).
const Version = "1.29.1"

// Options describe a server. Zero fields take the defaults below.
type Options struct {
	Dir       string // config, log and pid file; required
	Server    string // temporal-server binary; default $TEMPORAL_SERVER or bin/temporal-server
	SQLTool   string // temporal-sql-tool binary; default $TEMPORAL_SQL_TOOL or bin/temporal-sql-tool
	Schema    string // the server's schema/postgresql/v12 folder; default $TEMPORAL_SCHEMA or bin/temporal-schema
	CLI       string // the temporal CLI (namespace setup); default testenv.TemporalCLI()
	PGHost    string // default $TEST_PG_HOST or 127.0.0.1
	PGPort    int    // default $TEST_PG_PORT or 5432
	PGUser    string // default $TEST_PG_USER or postgres (trust auth, no password)
	Database  string // persistence database; Database+"_visibility" holds visibility; default temporal_<pid>
	Namespace string // default "default"
	Ports     *Ports // fixed ports (make cluster); default free ones
}

// Ports are the server's listening ports on 127.0.0.1.
type Ports struct {
	Frontend, FrontendHTTP, FrontendMembership int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
	Metrics, PProf                             int
}

// Server is a running (or stopped) server.
type Server struct {
	Addr        string // the frontend, host:port
	MetricsAddr string // Prometheus metrics, host:port
	Log         string // the server's log file
	o           Options
	proc        *testenv.Proc
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("cluster: Options.Dir is required")
	}
	bin := filepath.Join(testenv.RepoRoot(), "bin")
	env := func(v *string, key, def string) {
		if *v == "" {
			*v = os.Getenv(key)
		}
		if *v == "" {
			*v = def
		}
	}
	env(&o.Server, "TEMPORAL_SERVER", filepath.Join(bin, "temporal-server"))
	env(&o.SQLTool, "TEMPORAL_SQL_TOOL", filepath.Join(bin, "temporal-sql-tool"))
	env(&o.Schema, "TEMPORAL_SCHEMA", filepath.Join(bin, "temporal-schema"))
	env(&o.PGHost, "TEST_PG_HOST", "127.0.0.1")
	env(&o.PGUser, "TEST_PG_USER", "postgres")
	env(&o.Database, "", fmt.Sprintf("temporal_%d", os.Getpid()))
	env(&o.Namespace, "", "default")
	if o.PGPort == 0 {
		o.PGPort = 5432
		if p, err := strconv.Atoi(os.Getenv("TEST_PG_PORT")); err == nil {
			o.PGPort = p
		}
	}
	if o.CLI == "" {
		cli, err := testenv.TemporalCLI()
		if err != nil {
			return err
		}
		o.CLI = cli
	}
	for _, p := range []string{o.Server, o.SQLTool, filepath.Join(o.Schema, "temporal", "versioned")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("cluster: %s is missing: run `make cluster-tools` (builds temporal-server and temporal-sql-tool v%s from tools.mod)", p, Version)
		}
	}
	if o.Ports == nil {
		p, err := freePorts()
		if err != nil {
			return err
		}
		o.Ports = p
	}
	return nil
}

// freePorts picks free loopback ports below 32768: the SQL schema stores
// membership ports as a smallint, and the kernel's ephemeral ports (which
// port 0 gives) lie above it.
func freePorts() (*Ports, error) {
	var n [11]int
	used := map[int]bool{}
	for i := range n {
		p, err := lowFreePort(used)
		if err != nil {
			return nil, err
		}
		n[i], used[p] = p, true
	}
	return &Ports{n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10]}, nil
}

func lowFreePort(used map[int]bool) (int, error) {
	for range 200 {
		p := 20000 + rand.IntN(12000)
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, errors.New("cluster: no free port between 20000 and 32000")
}

// New prepares a server: both schemas created and the config written. It
// fails when PostgreSQL is not reachable, with the command that starts it.
func New(ctx context.Context, o Options) (*Server, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "config"), 0o755); err != nil {
		return nil, err
	}
	s := &Server{
		Addr:        fmt.Sprintf("127.0.0.1:%d", o.Ports.Frontend),
		MetricsAddr: fmt.Sprintf("127.0.0.1:%d", o.Ports.Metrics),
		Log:         filepath.Join(o.Dir, "temporal-server.log"),
		o:           o,
	}
	if err := s.createSchemas(ctx); err != nil {
		return nil, err
	}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	s.proc = &testenv.Proc{Name: "temporal-server", Path: o.Server, Log: s.Log, Group: true, Args: s.args()}
	return s, nil
}

func (s *Server) args() []string {
	return []string{"--root", s.o.Dir, "--config", "config", "--env", "cluster", "--allow-no-auth", "start"}
}

// Command is the server's command line, for a caller that runs the server
// itself (cmd/cluster starts it detached); then WaitReady sets it up.
func (s *Server) Command() *exec.Cmd { return exec.Command(s.o.Server, s.args()...) }

// sqlTool runs temporal-sql-tool against db.
func (s *Server) sqlTool(ctx context.Context, db string, args ...string) error {
	full := append([]string{"--plugin", "postgres12", "--ep", s.o.PGHost, "-p", strconv.Itoa(s.o.PGPort), "-u", s.o.PGUser, "--db", db}, args...)
	cmd := exec.CommandContext(ctx, s.o.SQLTool, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("temporal-sql-tool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// createSchemas creates the persistence and visibility databases and their
// schemas at the server's version, as Temporal's setup-postgres.sh does;
// an existing database is brought up to date.
func (s *Server) createSchemas(ctx context.Context) error {
	for _, db := range []struct{ name, dir string }{
		{s.o.Database, "temporal"}, {s.o.Database + "_visibility", "visibility"},
	} {
		if err := s.sqlTool(ctx, db.name, "create-database"); err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("%w\n(is PostgreSQL running on %s:%d? pg_ctlcluster --skip-systemctl-redirect 15 main start)", err, s.o.PGHost, s.o.PGPort)
		}
		if err := s.sqlTool(ctx, db.name, "setup-schema", "-v", "0.0"); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		if err := s.sqlTool(ctx, db.name, "update-schema", "-d", filepath.Join(s.o.Schema, db.dir, "versioned")); err != nil {
			return err
		}
	}
	return nil
}

// Drop drops both databases of o (no server may use them).
func Drop(ctx context.Context, o Options) error {
	o.Ports = &Ports{} // none needed
	if err := o.defaults(); err != nil {
		return err
	}
	return (&Server{o: o}).Drop(ctx)
}

// Drop drops both databases (the server must be stopped).
func (s *Server) Drop(ctx context.Context) error {
	var errs []error
	for _, db := range []string{s.o.Database, s.o.Database + "_visibility"} {
		errs = append(errs, s.sqlTool(ctx, db, "drop-database", "-f"))
	}
	return errors.Join(errs...)
}

var configTmpl = template.Must(template.New("cluster").Parse(`# Written by internal/cluster: Temporal {{.Version}}, PostgreSQL persistence and SQL visibility.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: "{{.O.Database}}"
        connectAddr: "{{.O.PGHost}}:{{.O.PGPort}}"
        connectProtocol: tcp
        user: "{{.O.PGUser}}"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: "{{.O.Database}}_visibility"
        connectAddr: "{{.O.PGHost}}:{{.O.PGPort}}"
        connectProtocol: tcp
        user: "{{.O.PGUser}}"
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  pprof:
    port: {{.P.PProf}}
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:{{.P.Metrics}}"
services:
  frontend:
    rpc: {grpcPort: {{.P.Frontend}}, membershipPort: {{.P.FrontendMembership}}, bindOnLocalHost: true, httpPort: {{.P.FrontendHTTP}}}
  matching:
    rpc: {grpcPort: {{.P.Matching}}, membershipPort: {{.P.MatchingMembership}}, bindOnLocalHost: true}
  history:
    rpc: {grpcPort: {{.P.History}}, membershipPort: {{.P.HistoryMembership}}, bindOnLocalHost: true}
  worker:
    rpc: {grpcPort: {{.P.Worker}}, membershipPort: {{.P.WorkerMembership}}, bindOnLocalHost: true}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:{{.P.Frontend}}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "{{.DynamicConfig}}"
  pollInterval: 10s
`))

// DynamicConfig is the dynamic config the server runs with: compose's.
func DynamicConfig() string {
	return filepath.Join(testenv.RepoRoot(), "deploy", "temporal", "dynamicconfig", "docker.yaml")
}

func (s *Server) writeConfig() error {
	var b bytes.Buffer
	if err := configTmpl.Execute(&b, map[string]any{"Version": Version, "O": s.o, "P": s.o.Ports, "DynamicConfig": DynamicConfig()}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.o.Dir, "config", "cluster.yaml"), b.Bytes(), 0o644)
}

// Start starts the server and waits (up to 2 minutes) until its frontend
// is healthy. The first start also creates the namespace and the search
// attributes (create-namespace.sh is idempotent).
func (s *Server) Start(ctx context.Context) error {
	if err := s.proc.Start(); err != nil {
		return err
	}
	return s.WaitReady(ctx, s.proc.Done())
}

// WaitReady waits (up to 2 minutes, or until exited closes) until the
// frontend is healthy, then creates the namespace and search attributes.
func (s *Server) WaitReady(ctx context.Context, exited <-chan struct{}) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := testenv.Dial(wctx, s.Addr, exited)
	if err != nil {
		return fmt.Errorf("temporal-server on %s (log %s): %w", s.Addr, s.Log, err)
	}
	c.Close()
	return s.setupNamespace(wctx)
}

// setupNamespace runs deploy/temporal/create-namespace.sh, as compose and
// INSTALL.md do, with the pinned CLI first on PATH.
func (s *Server) setupNamespace(ctx context.Context) error {
	var sa []string
	for _, a := range pipeline.SearchAttributes {
		sa = append(sa, a.Name+"="+a.Type)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", filepath.Join(testenv.RepoRoot(), "deploy", "temporal", "create-namespace.sh"))
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(s.o.CLI)+":"+os.Getenv("PATH"),
		"TEMPORAL_ADDRESS="+s.Addr, "NAMESPACE="+s.o.Namespace, "NAMESPACE_RETENTION=1d",
		"SEARCH_ATTRIBUTES="+strings.Join(sa, " "), "HEALTH_ATTEMPTS=60")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("create-namespace.sh: %v\n%s", err, out.String())
	}
	return nil
}

// Stop stops the server: SIGTERM, SIGKILL after grace.
func (s *Server) Stop(grace time.Duration) { s.proc.Stop(syscall.SIGTERM, grace) }

// Kill kills the server process at once.
func (s *Server) Kill() { s.proc.Kill() }

// Restart stops the server and starts it again on the same databases.
func (s *Server) Restart(ctx context.Context, grace time.Duration) error {
	s.Stop(grace)
	return s.Start(ctx)
}

// Pid is the server's process id (0 when it is not running).
func (s *Server) Pid() int { return s.proc.Pid() }

// Running reports whether the server process runs.
func (s *Server) Running() bool { return s.proc.Running() }
