package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
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

	temporal     *testenv.DevServerProc
	temporalAddr string
	metricsAddr  string
	tc           client.Client

	db      *testenv.Database
	dsn     *mysql.Config  // the server, no database
	store   *dbmodel.Store // db.Store
	wProxy  *SQLProxy      // the worker's connections
	sProxy  *SQLProxy      // the starter's (or the direct launcher's) connections
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
	if err := testenv.Build(ctx, "", bin, "./starter", workerPkg); err != nil {
		return nil, err
	}
	e.starterBin, e.workerBin = filepath.Join(bin, "starter"), filepath.Join(bin, filepath.Base(workerPkg))

	if err := e.startTemporal(ctx); err != nil {
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

	if err := e.startSim(); err != nil {
		return nil, err
	}
	e.watch, e.simURL, e.simSURL, err = StartSimWatch(e.sim)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = e.watch.Close() })
	return e, nil
}

// startSim loads the cluster (with the run's task durations and API
// latencies) into the simulator; StartSimWatch serves it.
func (e *env) startSim() error {
	o := e.o
	fx := stack.Cluster()
	fx.DestroyDuration = pvesim.Duration(o.Destroy)
	fx.ImgDelDuration = pvesim.Duration(o.ImgDel)
	e.sim = pvesim.New(pvesim.Options{})
	if err := e.sim.LoadFixture(fx); err != nil {
		return err
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
	return nil
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

// startTemporal starts the Temporal dev server (on a file database with
// -temporal-db) and connects the bench's client.
func (e *env) startTemporal(ctx context.Context) error {
	d, err := testenv.NewDevServerProc(testenv.DevServerOptions{CLI: e.o.TemporalCLI, Dir: e.dir,
		FileDB: e.o.TemporalDB != "", NoLog: true, Group: true})
	if err != nil {
		return err
	}
	e.temporal, e.temporalAddr, e.metricsAddr = d, d.Addr, d.MetricsAddr
	e.logf("starting the Temporal dev server (%s) on %s", d.Proc.Path, e.temporalAddr)
	if err := d.Proc.Start(); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { d.Stop(10 * time.Second) })
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if e.tc, err = testenv.Dial(wctx, e.temporalAddr, d.Proc.Done()); err != nil {
		return fmt.Errorf("temporal dev server not ready: %w", err)
	}
	e.closers = append(e.closers, e.tc.Close)
	return nil
}

// startDB creates the bench database and the two counting proxies in
// front of the server: the worker's and the starter's.
func (e *env) startDB() error {
	var err error
	if e.db, err = testenv.CreateDatabase("", "pt_bench"); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.db.Close(false) })
	e.store = e.db.Store
	if e.dsn, err = mysql.ParseDSN(e.db.Base); err != nil {
		return fmt.Errorf("MySQL DSN: %w", err)
	}
	addr := e.dsn.Addr
	if e.wProxy, err = StartSQLProxy(addr); err != nil {
		return err
	}
	e.closers = append(e.closers, func() { e.wProxy.Close() })
	if e.sProxy, err = StartSQLProxy(addr); err != nil {
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
	c.Addr, c.Net, c.DBName, c.ParseTime, c.Loc = addr, "tcp", e.db.Name, true, time.UTC
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

// writeConfigs writes the worker's and the starter's config files for a
// task queue and returns their paths. They differ only in the database
// address (each through its own counting proxy).
func (e *env) writeConfigs(queue string) (workerCfg, starterCfg string, err error) {
	mk := func(name, dbAddr, simURL string) (string, error) {
		cfg := &config.Config{
			Temporal: config.Temporal{Address: e.temporalAddr, Namespace: "default", TaskQueue: queue},
			Database: e.dbConfig(dbAddr), Proxmox: []pve.Config{stack.PVEConfig(simURL)},
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
type workerProc struct{ *testenv.Proc }

func (e *env) startWorker(ctx context.Context, cfgPath, queue string) (*workerProc, error) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	w := &workerProc{&testenv.Proc{Name: "worker", Path: e.workerBin, Args: []string{"--config", cfgPath, "--http-addr", addr},
		Env: e.o.WorkerEnv, Log: filepath.Join(e.dir, "worker-"+queue+".log"), Group: true}}
	if err := w.Start(); err != nil {
		return nil, err
	}
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
		case <-w.Done():
			b, _ := os.ReadFile(w.Log)
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

func (w *workerProc) pid() int { return w.Pid() }

func (w *workerProc) stop() { w.Stop(syscall.SIGTERM, 15*time.Second) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
