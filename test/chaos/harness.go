// Package chaos is the chaos run: N terminations on the real Temporal
// dev server (on a file database, restarted once mid-run), MariaDB,
// PowerDNS and the Proxmox simulator, with random faults per VM, DNS outages
// and the worker — a real subprocess — SIGKILLed and restarted at random
// moments. Bystander VMs share the nodes, and vmids of deleted VMs are
// reused by new bystanders. Afterwards package invariant checks the
// database and the simulator. Command cmd/chaos prints the verdict as
// one JSON line.
package chaos

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/cluster"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
	"github.com/proxmox-terminate/proxmox-terminate/test/chaos/invariant"
)

// Options describe a chaos run. Zero values select the defaults noted.
type Options struct {
	N           int   // terminations (default 200)
	Concurrency int   // terminations in flight at once (default 24)
	Seed        int64 // random seed (default: from the clock)
	Dir         string
	Keep        bool   // keep Dir and the database afterwards
	TemporalCLI string // default testenv.TemporalCLI()
	Src         string // source tree the worker and starter are built from (default: this repository)
	MySQL       string // server DSN without a database; default testenv.MySQLBase()

	KillMin, KillMax time.Duration // worker SIGKILL interval (default 4s..12s)
	DNSDownEvery     time.Duration // mean gap between DNS outages (default 15s)
	DNSDownFor       time.Duration // mean DNS outage (default 3s)
	ReuseFraction    float64       // deleted vmids reused by a new bystander (default 0.5; <0: none)
	RequeueFraction  float64       // liftable refusals re-queued by the admin (default 0.5; <0: none)
	Settle           time.Duration // after the last start, how long runs may take to end (default 4m)
	Timeout          time.Duration // the whole run (default 30m)
	Log              io.Writer     // progress lines; default os.Stderr

	// Cluster runs the real Temporal server (internal/cluster: PostgreSQL
	// persistence and visibility) instead of the dev server.
	Cluster bool
	Workers int // worker processes (default 1)
}

func (o *Options) defaults() {
	if o.N <= 0 {
		o.N = 200
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 24
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	if o.KillMin <= 0 {
		o.KillMin = 4 * time.Second
	}
	if o.KillMax < o.KillMin {
		o.KillMax = 3 * o.KillMin
	}
	if o.DNSDownEvery <= 0 {
		o.DNSDownEvery = 15 * time.Second
	}
	if o.DNSDownFor <= 0 {
		o.DNSDownFor = 3 * time.Second
	}
	if o.ReuseFraction == 0 {
		o.ReuseFraction = 0.5
	}
	if o.RequeueFraction == 0 {
		o.RequeueFraction = 0.5
	}
	if o.Settle <= 0 {
		o.Settle = 4 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
}

// Nodes of the simulated cluster.
var Nodes = []string{"pve1", "pve2", "pve3"}

type state int

const (
	pending state = iota
	inflight
	requeueing
	done
)

type service struct {
	inv   invariant.Service
	class Class
	state state
	gone  bool     // the target was seen gone from the simulator
	dns   []string // the target's DNS records, as dnsKey writes them
}

// dnsKey names one DNS record: owner name, type and content.
func dnsKey(name, typ, content string) string { return name + " " + typ + " " + content }

type harness struct {
	o   Options
	out io.Writer

	rngMu sync.Mutex
	rng   *mrand.Rand

	dir        string
	db         *testenv.Database
	store      *dbmodel.Store // db.Store
	sim        *pvesim.Sim
	simURL     string
	pdns       *pdnstest.Server
	gate       *Gate
	temporal   temporalServer
	workers    []*testenv.Proc
	tc         client.Client
	starterBin string
	cfgPath    string

	mu           sync.Mutex
	svcs         []*service
	byID         map[int]*service
	bystanders   []invariant.Instance
	ipViolations map[int]time.Time
	slots        chan struct{}
	nextReuse    int

	kills, restarts, dnsDown, refusals, dirty, exits int
	killing                                          map[int]bool // the killer keeps that worker down on purpose
}

// temporalServer is the Temporal server of the run: the dev server on a
// file database, or the real server on PostgreSQL. Either can be stopped
// and started again with every execution kept.
type temporalServer interface {
	Addr() string
	Start(ctx context.Context) error
	Stop(grace time.Duration)
	Running() bool
	Name() string
	Close() // stops it and drops what it created
}

type devServer struct{ d *testenv.DevServerProc }

func (s devServer) Addr() string                    { return s.d.Addr }
func (s devServer) Start(ctx context.Context) error { return s.d.Start(ctx) }
func (s devServer) Stop(grace time.Duration)        { s.d.Stop(grace) }
func (s devServer) Running() bool                   { return s.d.Proc.Running() }
func (s devServer) Name() string                    { return "dev" }
func (s devServer) Close()                          { s.d.Stop(10 * time.Second) }

type realServer struct {
	s    *cluster.Server
	keep bool
}

func (s realServer) Addr() string                    { return s.s.Addr }
func (s realServer) Start(ctx context.Context) error { return s.s.Start(ctx) }
func (s realServer) Stop(grace time.Duration)        { s.s.Stop(grace) }
func (s realServer) Running() bool                   { return s.s.Running() }
func (s realServer) Name() string                    { return "cluster " + cluster.Version + " on PostgreSQL" }
func (s realServer) Close() {
	s.s.Stop(10 * time.Second)
	if !s.keep {
		_ = s.s.Drop(context.Background())
	}
}

// Run performs a chaos run and checks the invariants. The error is about
// the harness itself (a service that would not start); violations are in
// the report.
func Run(ctx context.Context, o Options) (*invariant.Report, error) {
	o.defaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	h := &harness{o: o, out: o.Log, rng: mrand.New(mrand.NewPCG(uint64(o.Seed), uint64(o.Seed>>1)|1)), killing: map[int]bool{},
		byID: map[int]*service{}, ipViolations: map[int]time.Time{}, slots: make(chan struct{}, o.Concurrency)}
	start := time.Now()
	defer h.cleanup()
	if err := h.setup(ctx); err != nil {
		return nil, err
	}
	if err := h.seed(ctx); err != nil {
		return nil, err
	}
	rep, err := h.run(ctx)
	if rep != nil {
		rep.Seconds = time.Since(start).Round(time.Second).Seconds()
	}
	return rep, err
}

// every calls f after each gap (gap is asked anew every time) until ctx ends.
func every(ctx context.Context, gap func() time.Duration, f func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap()):
		}
		f()
	}
}

// fixed is a gap of d every time.
func fixed(d time.Duration) func() time.Duration { return func() time.Duration { return d } }

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.out, "chaos: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// between draws a duration in [lo, hi).
func (h *harness) between(lo, hi time.Duration) time.Duration {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(h.rng.Int64N(int64(hi-lo)))
}

func (h *harness) chance(p float64) bool {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.Float64() < p
}

func (h *harness) intn(n int) int {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.IntN(n)
}

// ---- setup -----------------------------------------------------------------

// setup starts the environment, each step on the one before.
func (h *harness) setup(ctx context.Context) error {
	for _, step := range []func(context.Context) error{
		h.scratchDir, h.buildBinaries, h.startDatabase, h.startDNS, h.startSimulator, h.startTemporal, h.writeConfig, h.startWorker,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// scratchDir makes Options.Dir (default: a new temporary one) absolute.
func (h *harness) scratchDir(context.Context) error {
	var err error
	h.dir = h.o.Dir
	if h.dir == "" {
		if h.dir, err = os.MkdirTemp("", "chaos-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return err
	}
	if h.dir, err = filepath.Abs(h.dir); err != nil {
		return err
	}
	h.logf("seed %d, %d terminations, %d at once, scratch %s", h.o.Seed, h.o.N, h.o.Concurrency, h.dir)
	return nil
}

// buildBinaries builds the worker (a real process, so that SIGKILL is
// real) and the starter.
func (h *harness) buildBinaries(ctx context.Context) error {
	h.starterBin = filepath.Join(h.dir, "starter")
	return testenv.Build(ctx, h.o.Src, h.dir, "./worker", "./starter")
}

// startDatabase creates a fresh MariaDB database.
func (h *harness) startDatabase(context.Context) error {
	var err error
	if h.db, err = testenv.CreateDatabase(h.o.MySQL, "pt_chaos"); err != nil {
		return err
	}
	h.store = h.db.Store
	return nil
}

// startDNS starts PowerDNS behind a gate that can take it down.
func (h *harness) startDNS(context.Context) error {
	pdnsDir := filepath.Join(h.dir, "pdns")
	if err := os.MkdirAll(pdnsDir, 0o755); err != nil {
		return err
	}
	var err error
	if h.pdns, err = pdnstest.StartServer(pdnsDir); err != nil {
		return err
	}
	h.gate, err = NewGate(strings.TrimPrefix(h.pdns.URL, "http://"))
	return err
}

// startSimulator starts the simulator in-process: it survives every worker kill.
func (h *harness) startSimulator(context.Context) error {
	fx := stack.Cluster()
	fx.Nodes = nil
	for _, n := range Nodes {
		fx.Nodes = append(fx.Nodes, pvesim.FixtureNode{Name: n})
	}
	var err error
	h.sim, h.simURL, err = stack.StartSim(fx, "127.0.0.1:0", false)
	return err
}

// startTemporal starts the Temporal server (the dev server on a file
// database, or the real server) and connects the harness's client.
func (h *harness) startTemporal(ctx context.Context) error {
	if h.o.Cluster {
		s, err := cluster.New(ctx, cluster.Options{Dir: filepath.Join(h.dir, "cluster"), CLI: h.o.TemporalCLI,
			Database: fmt.Sprintf("chaos_%d_%d", os.Getpid(), time.Now().Unix()%100000)})
		if err != nil {
			return err
		}
		h.temporal = realServer{s: s, keep: h.o.Keep}
	} else {
		d, err := testenv.NewDevServerProc(testenv.DevServerOptions{CLI: h.o.TemporalCLI, Dir: h.dir, FileDB: true})
		if err != nil {
			return err
		}
		h.temporal = devServer{d}
	}
	if err := h.temporal.Start(ctx); err != nil {
		return err
	}
	var err error
	h.tc, err = testenv.Dial(ctx, h.temporal.Addr(), nil)
	return err
}

// writeConfig writes the config file the worker and the starter read.
func (h *harness) writeConfig(context.Context) error {
	cfg := &config.Config{
		Temporal: config.Temporal{Address: h.temporal.Addr(), Namespace: "default", TaskQueue: "chaos"},
		Database: h.db.Config,
		Proxmox:  []pve.Config{stack.PVEConfig(h.simURL)},
		DNS:      []dns.ProviderConfig{{Kind: "powerdns", Name: "pdns", URL: "http://" + h.gate.addr, APIKey: h.pdns.APIKey, Timeout: 2 * time.Second, Budget: 20 * time.Second}},
		Timing:   stack.FastTiming(),
		// The re-queue schedule runs every 10 s instead of every minute: its
		// passes race the runs more often.
		Worker: config.Worker{ReconcileEvery: 10 * time.Second},
	}
	h.cfgPath = filepath.Join(h.dir, "config.yaml")
	if err := stack.WriteConfig(h.cfgPath, cfg); err != nil {
		return err
	}
	_, err := config.Load(h.cfgPath)
	return err
}

// startWorker starts the worker processes, all on the one task queue.
func (h *harness) startWorker(context.Context) error {
	for i := range h.o.Workers {
		w := &testenv.Proc{Name: fmt.Sprintf("worker %d", i+1), Path: filepath.Join(h.dir, "worker"),
			Args: []string{"--config", h.cfgPath, "--http-addr", ""}, Log: filepath.Join(h.dir, fmt.Sprintf("worker-%d.log", i+1))}
		if err := w.Start(); err != nil {
			return err
		}
		h.workers = append(h.workers, w)
	}
	return nil
}

func (h *harness) cleanup() {
	for _, w := range h.workers {
		w.Kill()
	}
	if h.tc != nil {
		h.tc.Close()
	}
	if h.temporal != nil {
		h.temporal.Close()
	}
	if h.gate != nil {
		h.gate.Close()
	}
	if h.pdns != nil {
		_ = h.pdns.Stop()
	}
	if h.sim != nil {
		_ = h.sim.Close()
	}
	if h.db != nil {
		h.db.Close(h.o.Keep)
	}
	if h.dir != "" && !h.o.Keep && h.o.Dir == "" {
		_ = os.RemoveAll(h.dir)
	}
	if h.o.Keep && h.db != nil {
		h.logf("kept %s and database %s", h.dir, h.db.Name)
	}
}

// ---- seeding ---------------------------------------------------------------

// The zones the harness creates: forward, and the IPv4 and IPv6 reverse ones.
const (
	zoneFwd  = "chaos.example."
	zoneRev4 = "10.in-addr.arpa."
	zoneRev6 = "8.b.d.0.1.0.0.2.ip6.arpa."
)

func ip4(group, i int) string { return fmt.Sprintf("10.%d.%d.%d", group, i/250, i%250+1) }
func ip6(i int) string        { return fmt.Sprintf("2001:db8::1:%x", i+1) }

func (h *harness) seed(ctx context.Context) error {
	var fwd, rev4, rev6 []powerdns.RRset
	addFwd := func(name, typ, content string) string {
		fwd = append(fwd, powerdns.RRset{Name: name + ".", Type: typ, TTL: 300, Records: []powerdns.Record{{Content: content}}})
		return dnsKey(name+".", typ, content)
	}
	addPTR := func(ip, name string) string {
		rr := powerdns.RRset{Name: dns.ReverseName(netip.MustParseAddr(ip)), Type: "PTR", TTL: 300, Records: []powerdns.Record{{Content: name + "."}}}
		if strings.Contains(ip, ":") {
			rev6 = append(rev6, rr)
		} else {
			rev4 = append(rev4, rr)
		}
		return dnsKey(rr.Name, rr.Type, name+".")
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < h.o.N; i++ {
		id := i + 1
		h.rngMu.Lock()
		c := pickClass(h.rng)
		h.rngMu.Unlock()
		node := Nodes[h.intn(len(Nodes))]
		vmid := 1000 + i
		name := fmt.Sprintf("svc%d.chaos.example", id)
		spec := pvesim.VMSpec{Node: node, VMID: vmid, Name: name, Status: "running",
			ShutdownDelay: h.between(200*time.Millisecond, 1200*time.Millisecond),
			Disks:         []string{fmt.Sprintf("local-lvm:vm-%d-disk-0", vmid)}}
		if c.Spec != nil {
			c.Spec(&spec)
		}
		if err := h.sim.AddVM(spec); err != nil {
			return err
		}
		var backups []string
		for _, b := range []pvesim.FixtureBackup{
			{Storage: "local", Node: node, VMID: vmid, CTime: pvesim.Timestamp(now.Add(-48 * time.Hour))},
			{Storage: "pbs", VMID: vmid, CTime: pvesim.Timestamp(now.Add(-24 * time.Hour))},
		} {
			v, err := h.sim.AddBackup(b)
			if err != nil {
				return err
			}
			backups = append(backups, v)
		}
		if c.Faults != nil {
			for _, f := range c.Faults(vmid) {
				h.sim.SetFault(f)
			}
		}
		s := &service{class: c, inv: invariant.Service{
			ID: id, UserID: 100000 + id, DedicatedIP: ip4(1, i), AssignedIPs: ip6(i) + "\n", Domain: name, Expect: c.Expect(),
			Target: invariant.Instance{Role: invariant.Target, ServiceID: id, Node: node, VMID: vmid, Name: name, Created: time.Now(), Backups: backups},
		}}
		if err := stack.Seed(ctx, h.store, stack.Service{ID: id, UserID: s.inv.UserID, Domain: name, DedicatedIP: s.inv.DedicatedIP,
			AssignedIPs: s.inv.AssignedIPs, VMID: vmid, Node: node, VMName: name}); err != nil {
			return err
		}
		s.dns = []string{addFwd(name, "A", s.inv.DedicatedIP), addFwd(name, "AAAA", ip6(i)),
			addPTR(s.inv.DedicatedIP, name), addPTR(ip6(i), name)}
		s.inv.DNSRecords = len(s.dns)
		h.svcs = append(h.svcs, s)
		h.byID[id] = s
	}
	// Bystanders on the same nodes, with backups and DNS records of their own.
	nb := max(3, h.o.N/4)
	for j := 0; j < nb; j++ {
		node := Nodes[h.intn(len(Nodes))]
		vmid := 5000 + j
		name := fmt.Sprintf("bystander%d.chaos.example", j)
		b, err := h.addBystander(node, vmid, name, now.Add(-time.Duration(72+j)*time.Hour))
		if err != nil {
			return err
		}
		h.bystanders = append(h.bystanders, b)
		addFwd(name, "A", ip4(2, j))
		addPTR(ip4(2, j), name)
	}
	for _, z := range []struct {
		name   string
		rrsets []powerdns.RRset
	}{{zoneFwd, fwd}, {zoneRev4, rev4}, {zoneRev6, rev6}} {
		if err := h.pdns.CreateZone(z.name, z.rrsets...); err != nil {
			return fmt.Errorf("create zone %s: %w", z.name, err)
		}
	}
	h.logf("seeded %d services, %d bystanders", len(h.svcs), nb)
	return nil
}

// addBystander creates a running VM nothing may touch, with a local and a
// PBS backup.
func (h *harness) addBystander(node string, vmid int, name string, ctime time.Time) (invariant.Instance, error) {
	if err := h.sim.AddVM(pvesim.VMSpec{Node: node, VMID: vmid, Name: name, Status: "running", ShutdownDelay: 300 * time.Millisecond,
		Disks: []string{fmt.Sprintf("local-lvm:vm-%d-disk-%d", vmid, 1+h.intn(8))}}); err != nil {
		return invariant.Instance{}, err
	}
	in := invariant.Instance{Role: invariant.Bystander, Node: node, VMID: vmid, Name: name, Created: time.Now()}
	for _, b := range []pvesim.FixtureBackup{
		{Storage: "local", Node: node, VMID: vmid, CTime: pvesim.Timestamp(ctime)},
		{Storage: "pbs", VMID: vmid, CTime: pvesim.Timestamp(ctime.Add(-time.Hour))},
	} {
		v, err := h.sim.AddBackup(b)
		if err != nil {
			return in, err
		}
		in.Backups = append(in.Backups, v)
	}
	return in, nil
}

// ---- the run ---------------------------------------------------------------

func (h *harness) run(ctx context.Context) (*invariant.Report, error) {
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var wg sync.WaitGroup
	bg := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(chaosCtx) }()
	}
	bg(h.killer)
	bg(h.supervisor)
	bg(h.dnsFlapper)
	bg(h.monitor)
	bg(h.tracker)
	bg(h.progress)

	// Clicks, in random order, at most Concurrency in flight.
	order := make([]*service, len(h.svcs))
	copy(order, h.svcs)
	h.rngMu.Lock()
	h.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	h.rngMu.Unlock()
	restartAt := len(order)/3 + h.intn(len(order)/3+1)
	var clicks sync.WaitGroup
	for i, s := range order {
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if i == restartAt {
			bg(h.restartServer)
		}
		clicks.Add(1)
		go func(s *service) {
			defer clicks.Done()
			h.click(ctx, s)
		}(s)
		time.Sleep(h.between(50*time.Millisecond, 250*time.Millisecond))
	}
	clicks.Wait()
	h.logf("all %d clicks done; waiting up to %s for the runs to end", len(order), h.o.Settle)

	settle := time.After(h.o.Settle)
	stopped := false
	for !stopped {
		if h.count(inflight)+h.count(requeueing) == 0 {
			break
		}
		select {
		case <-settle:
			stopped = true
		case <-ctx.Done():
			stopped = true
		case <-time.After(500 * time.Millisecond):
		}
	}
	stopChaos()
	wg.Wait()
	// Leave everything up for the final reads.
	if err := h.gate.Up(); err != nil {
		return nil, err
	}
	for _, w := range h.workers {
		if !w.Running() {
			if err := w.Start(); err != nil {
				return nil, err
			}
		}
	}
	if !h.temporal.Running() {
		if err := h.temporal.Start(context.Background()); err != nil {
			return nil, err
		}
	}
	// Runs the chaos left mid-flight get a last short window without it.
	deadline := time.Now().Add(90 * time.Second)
	for h.count(inflight)+h.count(requeueing) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		h.trackOnce(context.Background())
		time.Sleep(500 * time.Millisecond)
	}
	return h.verdict(context.Background())
}

func (h *harness) count(st state) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.svcs {
		if s.state == st {
			n++
		}
	}
	return n
}

// starter runs the starter binary.
func (h *harness) starter(ctx context.Context, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	code, out, errOut, err := testenv.Run(exec.CommandContext(ctx, h.starterBin, append(args, "--config", h.cfgPath)...))
	if err != nil {
		code = -1
	}
	return code, out, errOut
}

// click is the billing panel's "Terminate", retried until the starter
// accepts it. A refused click must leave nothing behind.
func (h *harness) click(ctx context.Context, s *service) {
	id := s.inv.ID
	for try := 0; ctx.Err() == nil; try++ {
		t0 := time.Now()
		code, out, errOut := h.starter(ctx, "terminate", "--service-id", fmt.Sprint(id))
		if code == 0 && strings.TrimSpace(out) == "success" {
			h.mu.Lock()
			s.inv.Started = true
			s.state = inflight
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		h.refusals++
		h.mu.Unlock()
		h.logf("service %d: starter refused (exit %d): %s", id, code, strings.TrimSpace(errOut+out))
		h.checkRefusal(ctx, s, t0, time.Now())
		if try >= 40 {
			h.logf("service %d: giving up after %d refused clicks", id, try+1)
			break
		}
		time.Sleep(h.between(time.Second, 3*time.Second))
	}
	h.finish(s)
}

// checkRefusal: a refused click writes nothing — the VM row keeps its
// status (unless a run exists after all: the start may have reached
// Temporal), and Proxmox got no shutdown.
func (h *harness) checkRefusal(ctx context.Context, s *service, from, to time.Time) {
	svc, err := h.store.LoadService(ctx, s.inv.ID)
	if err != nil {
		return
	}
	var problems []string
	if svc.VM.VMStatus != "ready" {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, derr := h.tc.DescribeWorkflow(dctx, pipeline.WorkflowID(s.inv.ID), "")
		cancel()
		if derr != nil {
			problems = append(problems, fmt.Sprintf("vm_status=%s and no run", svc.VM.VMStatus))
		}
	}
	for _, q := range h.sim.Requests() {
		if q.Time.Before(from) || q.Time.After(to) || q.Method != "POST" || q.Route != routeShutdown {
			continue
		}
		if strings.HasSuffix(strings.TrimSuffix(q.Path, "/status/shutdown"), fmt.Sprintf("/%d", s.inv.Target.VMID)) {
			problems = append(problems, "a shutdown was sent to VM "+fmt.Sprint(s.inv.Target.VMID))
		}
	}
	if len(problems) > 0 {
		h.mu.Lock()
		h.dirty++
		h.mu.Unlock()
		h.logf("VIOLATION service %d: refused click left writes: %s", s.inv.ID, strings.Join(problems, "; "))
	}
}

func (h *harness) finish(s *service) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.state == done {
		return
	}
	s.state = done
	select {
	case <-h.slots:
	default:
	}
}

// killer SIGKILLs a worker, picked at random, at random moments and
// restarts it.
func (h *harness) killer(ctx context.Context) {
	every(ctx, func() time.Duration { return h.between(h.o.KillMin, h.o.KillMax) }, func() { h.killWorker(h.intn(len(h.workers))) })
}

// killWorker SIGKILLs worker i and starts it again a moment later.
func (h *harness) killWorker(i int) {
	w := h.workers[i]
	h.mu.Lock()
	h.killing[i] = true
	h.mu.Unlock()
	if w.Running() {
		w.Kill()
		h.mu.Lock()
		h.kills++
		h.mu.Unlock()
	}
	time.Sleep(h.between(100*time.Millisecond, 1500*time.Millisecond))
	if err := w.Start(); err != nil {
		h.logf("%s restart: %v", w.Name, err)
	}
	h.mu.Lock()
	h.killing[i] = false
	h.mu.Unlock()
}

// supervisor restarts a worker that exited by itself (as systemd's
// Restart=always would), e.g. when Temporal was unreachable at its start.
func (h *harness) supervisor(ctx context.Context) {
	every(ctx, fixed(time.Second), h.reviveWorker)
}

// reviveWorker starts each worker that is down while the killer is not
// keeping it down.
func (h *harness) reviveWorker() {
	for i, w := range h.workers {
		h.mu.Lock()
		killing := h.killing[i]
		h.mu.Unlock()
		if killing || w.Running() {
			continue
		}
		if err := w.Start(); err == nil {
			h.mu.Lock()
			h.exits++
			h.mu.Unlock()
		}
	}
}

// dnsFlapper takes the DNS provider down now and then.
func (h *harness) dnsFlapper(ctx context.Context) {
	every(ctx, func() time.Duration { return h.between(h.o.DNSDownEvery/2, h.o.DNSDownEvery*3/2) }, func() { h.dnsOutage(ctx) })
}

// dnsOutage keeps the DNS provider down for a while.
func (h *harness) dnsOutage(ctx context.Context) {
	h.gate.Down()
	h.mu.Lock()
	h.dnsDown++
	h.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(h.between(h.o.DNSDownFor/2, h.o.DNSDownFor*3/2)):
	}
	if err := h.gate.Up(); err != nil {
		h.logf("DNS gate up: %v", err)
	}
}

// restartServer restarts the Temporal server once, on what it persisted.
func (h *harness) restartServer(ctx context.Context) {
	time.Sleep(h.between(0, 5*time.Second))
	h.logf("restarting the Temporal server (%s)", h.temporal.Name())
	h.temporal.Stop(15 * time.Second)
	time.Sleep(h.between(200*time.Millisecond, 2*time.Second))
	if err := h.temporal.Start(context.Background()); err != nil {
		h.logf("Temporal server restart failed: %v", err)
		return
	}
	h.mu.Lock()
	h.restarts++
	h.mu.Unlock()
	h.logf("Temporal server is back")
}

// monitor samples the database and the simulator: IPs cleared while the
// VM exists, and targets that are gone (whose vmid a new bystander may reuse).
func (h *harness) monitor(ctx context.Context) {
	every(ctx, fixed(150*time.Millisecond), func() { h.monitorOnce(ctx) })
}

// monitorOnce takes one sample.
func (h *harness) monitorOnce(ctx context.Context) {
	h.mu.Lock()
	var ids []int
	for _, s := range h.svcs {
		if s.inv.Started {
			ids = append(ids, s.inv.ID)
		}
	}
	h.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	var rows []dbmodel.Hosting
	if err := h.store.DB().WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return
	}
	present := map[[2]any]string{}
	for _, v := range h.sim.VMs() { // read after the database
		present[[2]any{v.Node, v.VMID}] = v.Name
	}
	now := time.Now()
	h.mu.Lock()
	for _, r := range rows {
		s := h.byID[r.ID]
		t := s.inv.Target
		exists := present[[2]any{t.Node, t.VMID}] == t.Name
		if exists && r.DedicatedIP == "" && strings.TrimSpace(r.AssignedIPs) == "" {
			if _, seen := h.ipViolations[r.ID]; !seen {
				h.ipViolations[r.ID] = now
				h.logf("VIOLATION service %d: IPs cleared while VM %d still exists", r.ID, t.VMID)
			}
		}
	}
	for _, id := range ids {
		s := h.byID[id]
		t := s.inv.Target
		if s.gone || present[[2]any{t.Node, t.VMID}] == t.Name {
			continue
		}
		s.gone = true
		if h.chance(h.o.ReuseFraction) {
			go h.reuse(ctx, t)
		}
	}
	h.mu.Unlock()
}

// reuse creates a new bystander with a deleted target's vmid, mostly on
// another node, sometimes on the same node under another name.
func (h *harness) reuse(ctx context.Context, t invariant.Instance) {
	markReused := func() {
		if s := h.byID[t.ServiceID]; s != nil {
			s.inv.Reused = true
		}
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(h.between(0, 1500*time.Millisecond)):
	}
	node := t.Node
	if h.chance(0.75) {
		for node == t.Node {
			node = Nodes[h.intn(len(Nodes))]
		}
	}
	h.mu.Lock()
	h.nextReuse++
	n := h.nextReuse
	h.mu.Unlock()
	name := fmt.Sprintf("reuse%d-%d.other.example", t.VMID, n)
	b, err := h.addBystander(node, t.VMID, name, time.Now().UTC().Truncate(time.Second).Add(-time.Duration(200+n)*time.Hour))
	if err != nil {
		if b.Name != "" && h.sim.VMExists(t.VMID) { // created, backup failed: still a bystander
			h.mu.Lock()
			h.bystanders = append(h.bystanders, b)
			markReused()
			h.mu.Unlock()
		}
		return
	}
	h.mu.Lock()
	h.bystanders = append(h.bystanders, b)
	markReused()
	h.mu.Unlock()
}

// tracker follows runs in flight until they end: terminated, or waiting in
// error_terminate (where the admin may lift the cause and re-queue).
func (h *harness) tracker(ctx context.Context) {
	every(ctx, fixed(400*time.Millisecond), func() { h.trackOnce(ctx) })
}

func (h *harness) trackOnce(ctx context.Context) {
	h.mu.Lock()
	var list []*service
	for _, s := range h.svcs {
		if s.state == inflight {
			list = append(list, s)
		}
	}
	h.mu.Unlock()
	for _, s := range list {
		if ctx.Err() != nil {
			return
		}
		id := s.inv.ID
		row, err := h.store.LoadService(ctx, id)
		if err != nil {
			continue
		}
		wf := h.workflow(ctx, id)
		if !wf.Known {
			continue
		}
		switch {
		case wf.Status == "COMPLETED" || (wf.Status != "RUNNING" && wf.Status != ""):
			h.finish(s)
		case row.VM.VMStatus == dbmodel.StatusErrorTerminate && wf.Phase == pipeline.PhaseWaiting:
			h.mu.Lock()
			requeue := s.class.Lift != nil && s.inv.Requeues == 0
			h.mu.Unlock()
			if requeue && h.chance(h.o.RequeueFraction) {
				h.mu.Lock()
				s.state = requeueing
				h.mu.Unlock()
				go h.requeue(ctx, s)
				continue
			}
			h.finish(s)
		}
	}
}

// updateSentNoAnswer is the starter's line for an admin Update the run has
// not answered before the starter's deadline (starter/admin.go updateError):
// the run may still act on it.
const updateSentNoAnswer = "sent, but the run did not answer before the deadline"

// requeue is the admin lifting the cause and resetting the VM to terminate.
func (h *harness) requeue(ctx context.Context, s *service) {
	id := s.inv.ID
	if err := s.class.Lift(h.sim, s.inv.Target.VMID); err != nil {
		h.logf("service %d: lift %s: %v", id, s.class.Name, err)
	}
	for try := 0; try < 20 && ctx.Err() == nil; try++ {
		code, out, errOut := h.starter(ctx, "reset", "--service-id", fmt.Sprint(id), "--to", "terminate")
		if code == 0 {
			h.mu.Lock()
			s.inv.Requeues++
			s.state = inflight
			h.mu.Unlock()
			return
		}
		if strings.Contains(errOut, updateSentNoAnswer) {
			// The run had no worker to answer before the starter's
			// deadline: it may still apply the re-queue (or reject it)
			// once a worker is back.
			h.mu.Lock()
			s.inv.UnansweredRequeues++
			h.mu.Unlock()
		}
		h.logf("service %d: reset --to terminate refused (exit %d): %s", id, code, strings.TrimSpace(errOut+out))
		time.Sleep(h.between(time.Second, 3*time.Second))
	}
	h.finish(s)
}

// workflow describes the service's run (and queries it while it runs).
func (h *harness) workflow(ctx context.Context, id int) invariant.Workflow {
	return invariant.DescribeWorkflow(ctx, h.tc, id, 5*time.Second)
}

func (h *harness) progress(ctx context.Context) {
	every(ctx, fixed(15*time.Second), h.logProgress)
}

// logProgress prints one progress line.
func (h *harness) logProgress() {
	h.mu.Lock()
	started, fin := 0, 0
	for _, s := range h.svcs {
		if s.inv.Started {
			started++
		}
		if s.state == done {
			fin++
		}
	}
	k, r, d := h.kills, h.restarts, h.dnsDown
	h.mu.Unlock()
	h.logf("started %d/%d, ended %d, worker kills %d, server restarts %d, DNS outages %d", started, len(h.svcs), fin, k, r, d)
}

// dnsLeft counts, per service, its target's DNS records still in PowerDNS
// (read directly, not through the gate).
func (h *harness) dnsLeft() (map[int]int, error) {
	have := map[string]bool{}
	for _, zone := range []string{zoneFwd, zoneRev4, zoneRev6} {
		rrsets, err := h.pdns.Records(zone)
		if err != nil {
			return nil, fmt.Errorf("read zone %s: %w", zone, err)
		}
		for _, rr := range rrsets {
			for _, rec := range rr.Records {
				have[dnsKey(rr.Name, rr.Type, rec.Content)] = true
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	left := map[int]int{}
	for _, s := range h.svcs {
		for _, k := range s.dns {
			if have[k] {
				left[s.inv.ID]++
			}
		}
	}
	return left, nil
}

// verdict reads the database, Temporal and the simulator and checks.
func (h *harness) verdict(ctx context.Context) (*invariant.Report, error) {
	h.mu.Lock()
	var services []invariant.Service
	for _, s := range h.svcs {
		services = append(services, s.inv)
	}
	by := append([]invariant.Instance(nil), h.bystanders...)
	ipv := map[int]time.Time{}
	for k, v := range h.ipViolations {
		ipv[k] = v
	}
	h.mu.Unlock()
	rows, err := invariant.Gather(ctx, h.store, services)
	if err != nil {
		return nil, err
	}
	dnsLeft, err := h.dnsLeft()
	if err != nil {
		return nil, err
	}
	wfs := map[int]invariant.Workflow{}
	for _, s := range services {
		if !s.Started {
			continue
		}
		var wf invariant.Workflow
		for try := 0; try < 10; try++ {
			if wf = h.workflow(ctx, s.ID); wf.Known {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		wfs[s.ID] = wf
	}
	rep := invariant.Check(invariant.Input{
		Ledger:   invariant.Ledger{Services: services, Bystanders: by, IPViolations: ipv},
		DB:       rows,
		Workflow: wfs,
		Sim:      invariant.Sim{Requests: h.sim.Requests(), VMs: h.sim.VMs()},
		DNS:      dnsLeft,
	})
	h.mu.Lock()
	rep.WorkerKills, rep.ServerRestarts, rep.DNSDownWindows, rep.WorkerExits = h.kills, h.restarts, h.dnsDown, h.exits
	rep.TemporalServer, rep.Workers = h.temporal.Name(), len(h.workers)
	rep.StarterRefusals, rep.DirtyRefusals, rep.Seed = h.refusals, h.dirty, h.o.Seed
	h.mu.Unlock()
	return rep, nil
}
