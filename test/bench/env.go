package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"gopkg.in/yaml.v3"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// env is everything one bench run starts: the Temporal dev server, a fresh
// MariaDB database behind two counting proxies (worker, starter), PowerDNS,
// the simulator behind a per-node watch, and the worker subprocess.
type env struct {
	o    Options
	dir  string
	logf func(string, ...any)

	starterBin, workerBin string

	temporal     *exec.Cmd
	temporalDone chan struct{}
	temporalAddr string
	metricsAddr  string
	tc           client.Client

	admin   *gorm.DB
	dbName  string
	dsn     *mysql.Config // the server, no database
	store   *dbmodel.Store
	wProxy  *SQLProxy // the worker's connections
	sProxy  *SQLProxy // the starter's (or the direct launcher's) connections
	lStore  *dbmodel.Store
	pdns    *pdnsServer
	sim     *pvesim.Sim
	watch   *SimWatch
	simURL  string // the worker's way in
	simSURL string // the starter's
	worker  *workerProc
	closers []func()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func listenLocal() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot finds go.mod upwards from the working directory.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("go.mod not found above the working directory: run from the repository")
		}
		d = p
	}
}

func startEnv(ctx context.Context, o Options) (e *env, err error) {
	e = &env{o: o, logf: o.Logf}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if o.PerfDir != "" {
		if !perfAvailable() {
			return nil, errors.New("-perf needs the perf tool (linux-perf)")
		}
		if err := os.MkdirAll(o.PerfDir, 0o755); err != nil {
			return nil, err
		}
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	e.dir, err = os.MkdirTemp("", "ptbench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		o.Logf("scratch directory (kept): %s", e.dir)
	} else {
		e.closers = append(e.closers, func() { os.RemoveAll(e.dir) })
	}

	// Binaries, built as an operator would.
	e.logf("building starter and worker")
	bin := filepath.Join(e.dir, "bin")
	workerPkg := o.WorkerPkg
	if workerPkg == "" {
		workerPkg = "./worker"
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./starter", workerPkg)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	e.starterBin, e.workerBin = filepath.Join(bin, "starter"), filepath.Join(bin, filepath.Base(workerPkg))

	if err := e.startTemporal(ctx, root); err != nil {
		return nil, err
	}
	if err := e.startDB(); err != nil {
		return nil, err
	}
	e.logf("starting PowerDNS")
	if err := os.MkdirAll(filepath.Join(e.dir, "pdns"), 0o755); err != nil {
		return nil, err
	}
	e.pdns, err = startPDNS(filepath.Join(e.dir, "pdns"))
	if err != nil {
		return nil, fmt.Errorf("PowerDNS: %w", err)
	}
	e.closers = append(e.closers, e.pdns.stop)

	fx := stack.Cluster()
	fx.DestroyDuration = pvesim.Duration(o.Destroy)
	fx.ImgDelDuration = pvesim.Duration(o.ImgDel)
	e.sim = pvesim.New(pvesim.Options{})
	if err := e.sim.LoadFixture(fx); err != nil {
		return nil, err
	}
	// API latency: the first matching fault wins, so the task-starting calls first.
	if o.PVETaskLatency > 0 {
		for _, rt := range [][2]string{
			{"POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"}, {"POST", "/nodes/{node}/qemu/{vmid}/status/stop"},
			{"DELETE", "/nodes/{node}/qemu/{vmid}"}, {"DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"},
		} {
			e.sim.SetFault(pvesim.Fault{Method: rt[0], Route: rt[1], Kind: pvesim.FaultLatency, Delay: o.PVETaskLatency})
		}
	}
	if o.PVELatency > 0 {
		e.sim.SetFault(pvesim.Fault{Kind: pvesim.FaultLatency, Delay: o.PVELatency})
	}
	e.watch, e.simURL, e.simSURL, err = StartSimWatch(e.sim)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = e.watch.Close() })
	return e, nil
}

func (e *env) close() {
	if e.worker != nil {
		e.worker.stop()
	}
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

func (e *env) startTemporal(ctx context.Context, root string) error {
	cli := e.o.TemporalCLI
	if cli == "" {
		cli = os.Getenv("TEMPORAL_CLI")
	}
	if cli == "" {
		cli = filepath.Join(root, "bin", "temporal")
	}
	if _, err := os.Stat(cli); err != nil {
		return fmt.Errorf("temporal CLI not found at %s: run `make tools`", cli)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	httpPort, _ := freePort()
	metricsPort, _ := freePort()
	e.temporalAddr = "127.0.0.1:" + strconv.Itoa(port)
	e.metricsAddr = "127.0.0.1:" + strconv.Itoa(metricsPort)
	e.logf("starting the Temporal dev server (%s) on %s", cli, e.temporalAddr)
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--http-port", strconv.Itoa(httpPort), "--metrics-port", strconv.Itoa(metricsPort),
		"--headless", "--log-level", "error"}
	args = append(args, pipeline.DevServerArgs()...) // the run's search attributes
	if e.o.TemporalDB != "" {
		args = append(args, "--db-filename", filepath.Join(e.dir, "temporal.db"))
	}
	cmd := exec.Command(cli, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.temporal = cmd
	e.temporalDone = make(chan struct{})
	go func() { _ = cmd.Wait(); close(e.temporalDone) }()
	e.closers = append(e.closers, func() { stopProc(cmd, e.temporalDone, 10*time.Second) })

	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: e.temporalAddr, Namespace: "default", Logger: quiet})
		if err == nil {
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, herr := c.CheckHealth(hctx, &client.CheckHealthRequest{})
			cancel()
			if herr == nil {
				e.tc = c
				e.closers = append(e.closers, c.Close)
				return nil
			}
			c.Close()
			err = herr
		}
		select {
		case <-e.temporalDone:
			return errors.New("the temporal dev server exited during start-up")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server not ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func stopProc(cmd *exec.Cmd, done chan struct{}, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (e *env) startDB() error {
	base := os.Getenv("TEST_MYSQL_DSN")
	if base == "" {
		base = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		return fmt.Errorf("MySQL DSN: %w", err)
	}
	e.dsn = cfg
	e.admin, err = gorm.Open(gmysql.Open(base), &gorm.Config{Logger: logger.Discard})
	if err == nil {
		err = e.admin.Exec("SELECT 1").Error
	}
	if err != nil {
		return fmt.Errorf("MariaDB at %s is not reachable (%v): start it or set TEST_MYSQL_DSN", cfg.Addr, err)
	}
	e.dbName = "pt_bench_" + randHex(6)
	if err := e.admin.Exec("CREATE DATABASE `" + e.dbName + "` CHARACTER SET utf8mb4").Error; err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	e.closers = append(e.closers, func() {
		e.admin.Exec("DROP DATABASE IF EXISTS `" + e.dbName + "`")
		if db, err := e.admin.DB(); err == nil {
			db.Close()
		}
	})
	e.store, err = dbmodel.Open(e.dbConfig(cfg.Addr))
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.store.Close() })
	if err := whmcsschema.Create(e.store.DB()); err != nil {
		return err
	}
	if err := e.store.MigrateOwnTables(); err != nil {
		return err
	}
	if e.wProxy, err = StartSQLProxy(cfg.Addr); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.wProxy.Close() })
	if e.sProxy, err = StartSQLProxy(cfg.Addr); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.sProxy.Close() })
	e.lStore, err = dbmodel.Open(e.dbConfig(e.sProxy.Addr()))
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.lStore.Close() })
	return nil
}

// dbConfig is the bench database reached through addr.
func (e *env) dbConfig(addr string) dbmodel.Config {
	c := e.dsn.Clone()
	c.Addr, c.Net, c.DBName, c.ParseTime, c.Loc = addr, "tcp", e.dbName, true, time.UTC
	for k, v := range e.o.DSNParams {
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params[k] = v
	}
	if e.o.InterpolateParams {
		c.InterpolateParams = true
	}
	return dbmodel.Config{Driver: "mysql", DSN: c.FormatDSN()}.WithDefaults()
}

// pveConfig is the simulated cluster as the config file names it.
func (e *env) pveConfig(simURL string) pve.Config {
	return pve.Config{Name: stack.ServerName, URL: strings.TrimSuffix(simURL, "/api2/json"),
		TokenID: stack.TokenID, TokenSecret: stack.TokenSecret, Timeout: 10 * time.Second}
}

// writeConfigs writes the worker's and the starter's config files for a
// task queue and returns their paths. They differ only in the database
// address (each through its own counting proxy).
func (e *env) writeConfigs(queue string) (workerCfg, starterCfg string, err error) {
	mk := func(name, dbAddr, simURL string) (string, error) {
		cfg := &config.Config{
			Temporal: config.Temporal{Address: e.temporalAddr, Namespace: "default", TaskQueue: queue},
			Database: e.dbConfig(dbAddr), Proxmox: []pve.Config{e.pveConfig(simURL)},
			DNS: []dns.ProviderConfig{e.pdns.Config("powerdns")}, Timing: e.o.Timing,
		}
		path := filepath.Join(e.dir, name)
		if err := stack.WriteConfig(path, cfg); err != nil {
			return "", err
		}
		if err := applySets(path, e.o.Sets); err != nil {
			return "", err
		}
		if _, err := config.Load(path); err != nil {
			return "", fmt.Errorf("%s does not load: %w", name, err)
		}
		return path, nil
	}
	if workerCfg, err = mk("worker-"+queue+".yaml", e.wProxy.Addr(), e.simURL); err != nil {
		return "", "", err
	}
	starterCfg, err = mk("starter-"+queue+".yaml", e.sProxy.Addr(), e.simSURL)
	return workerCfg, starterCfg, err
}

// applySets applies "a.b.0.c=value" overrides (value parsed as YAML) to a
// YAML file, so that settings the product adds later (a per-node limit, say)
// can be benchmarked without changing the bench.
func applySets(path string, sets []string) error {
	if len(sets) == 0 {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("-set %q: want key.path=value", s)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			return fmt.Errorf("-set %q: %w", s, err)
		}
		if doc, err = setPath(doc, strings.Split(k, "."), val); err != nil {
			return fmt.Errorf("-set %q: %w", s, err)
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

func setPath(node any, path []string, val any) (any, error) {
	if len(path) == 0 {
		return val, nil
	}
	switch n := node.(type) {
	case map[string]any:
		v, err := setPath(n[path[0]], path[1:], val)
		n[path[0]] = v
		return n, err
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(n) {
			return n, fmt.Errorf("index %q out of range", path[0])
		}
		n[i], err = setPath(n[i], path[1:], val)
		return n, err
	case nil:
		m := map[string]any{}
		v, err := setPath(nil, path[1:], val)
		m[path[0]] = v
		return m, err
	}
	return node, fmt.Errorf("%q is not a map or a list", path[0])
}

// workerProc is the worker binary, run as the operator runs it.
type workerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func (e *env) startWorker(ctx context.Context, cfgPath, queue string) (*workerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(e.dir, "worker-"+queue+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.workerBin, "--config", cfgPath, "--http-addr", addr)
	// Through a pipe, as under systemd or docker: the worker syncs stdout
	// after every line, which on a regular file would be an fsync each.
	cmd.Stdout, cmd.Stderr = struct{ io.Writer }{logf}, struct{ io.Writer }{logf}
	cmd.Env = append(os.Environ(), e.o.WorkerEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	w := &workerProc{cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(w.done) }()
	e.worker = w
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w, nil
			}
		}
		select {
		case <-w.done:
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("worker exited during start-up:\n%s", tail(string(b), 2000))
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, errors.New("worker /healthz not ready within 60s")
		}
	}
}

func (w *workerProc) pid() int { return w.cmd.Process.Pid }

func (w *workerProc) stop() {
	stopProc(w.cmd, w.done, 15*time.Second)
	w.log.Close()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
