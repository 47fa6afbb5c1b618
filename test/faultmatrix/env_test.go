package faultmatrix

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
	"github.com/proxmox-terminate/proxmox-terminate/test/chaos"
	"github.com/proxmox-terminate/proxmox-terminate/test/chaos/invariant"
)

func TestMain(m *testing.M) {
	// The cases mostly wait (stop windows, retries): run more of them at
	// once than GOMAXPROCS unless -parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "6")
	}
	code := m.Run()
	testenv.StopDevServer()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Service ids are unique across the package: every test shares one dev server.
var nextID atomic.Int64

func init() { nextID.Store(time.Now().Unix()%100000*10 + 1000) }

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binary builds the starter or the worker once per package run.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "faultmatrix-bin-"); binErr != nil {
			return
		}
		for _, p := range []string{"starter", "worker"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, p), "./"+p)
			cmd.Dir = testenv.RepoRoot()
			if b, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build ./%s: %v\n%s", p, err, b)
				return
			}
		}
	})
	require.NoError(t, binErr)
	return filepath.Join(binDir, pkg)
}

type dnsMode int

const (
	dnsNormal dnsMode = iota
	dnsDown           // pdns_server stopped before the click
	dnsBadKey         // the provider's API key is wrong
	dnsHang           // the provider accepts connections and never answers
)

type envOpts struct {
	dbGate    bool // the worker reaches MariaDB through a gate the test can close
	dns       dnsMode
	binWorker bool   // run the worker binary (SIGKILL-able) instead of an in-process worker
	dbUser    string // "user:password" of a MariaDB account to use (created for the test)
	// wrongKeyEnv adds a second provider on the same PowerDNS whose API key
	// (wrong) is read from this environment variable.
	wrongKeyEnv string
	fixture     func(*pvesim.Fixture)
}

// env is one stack: a fresh database, PowerDNS, the simulator and a worker.
type env struct {
	t          *testing.T
	st         *stack.Stack
	store      *dbmodel.Store // direct, never through the gate
	gate       *chaos.Gate
	pdns       *pdnstest.Server
	starterCfg string
	out        *syncBuffer // the worker's output
	worker     *workerProc
	tc         client.Client
	bystander  invariant.Instance
	extra      []invariant.Instance // bystanders a case adds
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	dev := testenv.DevServer(t)
	store, dbcfg := testenv.NewDatabase(t)
	e := &env{t: t, store: store, out: &syncBuffer{}, tc: dev.Client()}
	dir := t.TempDir()

	workerDB := dbcfg
	if o.dbUser != "" {
		user, pass, _ := strings.Cut(o.dbUser, ":")
		dbName := dsnDB(t, dbcfg.DSN)
		require.NoError(t, store.DB().Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, pass)).Error)
		t.Cleanup(func() { store.DB().Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
		require.NoError(t, store.DB().Exec(fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%%'", dbName, user)).Error)
		c, err := gomysql.ParseDSN(dbcfg.DSN)
		require.NoError(t, err)
		c.User, c.Passwd = user, pass
		workerDB.DSN = c.FormatDSN()
		dbcfg = workerDB
	}
	if o.dbGate {
		c, err := gomysql.ParseDSN(dbcfg.DSN)
		require.NoError(t, err)
		e.gate, err = chaos.NewGate(c.Addr)
		require.NoError(t, err)
		t.Cleanup(e.gate.Close)
		c.Addr = e.gate.Addr()
		workerDB.DSN = c.FormatDSN()
	}

	var dnsCfg []dns.ProviderConfig
	switch o.dns {
	case dnsNormal, dnsDown:
		e.pdns = pdnstest.Start(t)
		dnsCfg = append(dnsCfg, e.pdns.Config("powerdns"))
	case dnsBadKey:
		e.pdns = pdnstest.Start(t)
		c := e.pdns.Config("powerdns")
		c.APIKey = "fm-wrong-key-0123456789"
		dnsCfg = append(dnsCfg, c)
	case dnsHang:
		addr := hangingServer(t)
		dnsCfg = append(dnsCfg, dns.ProviderConfig{Kind: "powerdns", Name: "powerdns", URL: "http://" + addr,
			APIKey: "fm-hang-key-0123456789", Timeout: time.Second, Budget: 3 * time.Second})
	}
	if o.wrongKeyEnv != "" {
		dnsCfg = append(dnsCfg, wrongKeyProvider(e.pdns.URL, o.wrongKeyEnv))
	}

	fx := stack.Cluster()
	if o.fixture != nil {
		o.fixture(&fx)
	}
	st, err := stack.Start(stack.Options{
		Dir: dir, DB: workerDB, TemporalHost: dev.FrontendHostPort(),
		TaskQueue: fmt.Sprintf("fm-%d", nextID.Add(1)), Fixture: fx,
		DNS: dnsCfg, Client: dev.Client(), WorkerOut: e.out, NoWorker: o.binWorker,
	})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	e.st = st

	// The starter reaches the database directly: the gate is the worker's.
	loaded, err := config.Load(st.ConfigPath)
	require.NoError(t, err)
	loaded.Database = dbcfg
	e.starterCfg = filepath.Join(dir, "starter.yaml")
	require.NoError(t, stack.WriteConfig(e.starterCfg, loaded))

	if o.binWorker {
		e.worker = &workerProc{path: binary(t, "worker"), cfg: st.ConfigPath, out: e.out}
		require.NoError(t, e.worker.start())
		t.Cleanup(e.worker.kill)
	}

	// A bystander on the same node: nothing may ever stop or delete it.
	by := invariant.Instance{Role: invariant.Bystander, Node: "pve1", VMID: 9001, Name: "bystander.example.net"}
	require.NoError(t, stack.AddVMWithBackups(st.Sim, by.Node, by.VMID, by.Name, 200*time.Millisecond))
	by.Created = time.Now()
	by.Backups = st.Sim.Backups(by.VMID)
	e.bystander = by
	return e
}

// dsnDB is the database name of a DSN.
func dsnDB(t *testing.T, dsn string) string {
	c, err := gomysql.ParseDSN(dsn)
	require.NoError(t, err)
	return c.DBName
}

// hangingServer accepts TCP connections and never answers.
func hangingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// syncBuffer collects the worker's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// workerProc is the worker binary.
type workerProc struct {
	path, cfg string
	out       *syncBuffer
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
}

func (w *workerProc) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cmd := exec.Command(w.path, "--config", w.cfg, "--http-addr", "")
	cmd.Stdout, cmd.Stderr = w.out, w.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.cmd, w.done = cmd, done
	return nil
}

func (w *workerProc) kill() {
	w.mu.Lock()
	cmd, done := w.cmd, w.done
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// vm is a seeded service with a running VM, backups and DNS records.
type vm struct {
	id, userID, vmid int
	fqdn, ip4, ip6   string
}

func (e *env) seed(spec func(*pvesim.VMSpec)) vm {
	t := e.t
	t.Helper()
	id := int(nextID.Add(1))
	v := vm{id: id, userID: id + 500000, vmid: 1000 + id%8000, fqdn: fmt.Sprintf("%d-vm.example.com", id),
		ip4: fmt.Sprintf("192.0.2.%d", 10+id%200), ip6: fmt.Sprintf("2001:db8::%x", id%60000+1)}
	s := pvesim.VMSpec{Node: "pve1", VMID: v.vmid, Name: v.fqdn, Status: "running", ShutdownDelay: 300 * time.Millisecond,
		Disks: []string{fmt.Sprintf("local-lvm:vm-%d-disk-0", v.vmid)}}
	if spec != nil {
		spec(&s)
	}
	require.NoError(t, e.st.Sim.AddVM(s))
	now := time.Now().UTC().Truncate(time.Second)
	_, err := e.st.Sim.AddBackup(pvesim.FixtureBackup{Storage: "local", Node: "pve1", VMID: v.vmid, CTime: pvesim.Timestamp(now.Add(-48 * time.Hour))})
	require.NoError(t, err)
	_, err = e.st.Sim.AddBackup(pvesim.FixtureBackup{Storage: "pbs", VMID: v.vmid, CTime: pvesim.Timestamp(now.Add(-24 * time.Hour))})
	require.NoError(t, err)
	require.NoError(t, stack.Seed(context.Background(), e.store, stack.Service{
		ID: v.id, UserID: v.userID, Domain: v.fqdn, DedicatedIP: v.ip4, AssignedIPs: v.ip6 + "\n",
		VMID: v.vmid, Node: "pve1", VMName: v.fqdn,
	}))
	if e.pdns != nil {
		e.zone("example.com",
			powerdns.RRset{Name: v.fqdn + ".", Type: "A", TTL: 300, Records: []powerdns.Record{{Content: v.ip4}}},
			powerdns.RRset{Name: v.fqdn + ".", Type: "AAAA", TTL: 300, Records: []powerdns.Record{{Content: v.ip6}}},
			powerdns.RRset{Name: "keep.example.com.", Type: "A", TTL: 300, Records: []powerdns.Record{{Content: "198.51.100.1"}}})
		e.zone("2.0.192.in-addr.arpa",
			powerdns.RRset{Name: dns.ReverseName(netip.MustParseAddr(v.ip4)), Type: "PTR", TTL: 300, Records: []powerdns.Record{{Content: v.fqdn + "."}}})
	}
	return v
}

// zone creates a zone or adds rrsets to it.
func (e *env) zone(name string, rrsets ...powerdns.RRset) {
	e.t.Helper()
	if err := e.pdns.CreateZone(name, rrsets...); err == nil {
		return
	}
	for _, rr := range rrsets {
		for _, r := range rr.Records {
			err := e.pdns.AddRecord(name, rr.Name, rr.Type, r.Content, rr.TTL)
			if err != nil && !strings.Contains(err.Error(), "Duplicate record") {
				require.NoError(e.t, err)
			}
		}
	}
}

// starter runs the starter binary with the starter's config.
func (e *env) starter(args ...string) (int, string, string) {
	return runStarter(e.t, binary(e.t, "starter"), append(args, "--config", e.starterCfg)...)
}

func runStarter(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("starter %v: %v", args, err)
	return 0, "", ""
}

// status is the run's status query.
func (e *env) status(ctx context.Context, id int) (pipeline.Status, error) {
	var st pipeline.Status
	v, err := e.tc.QueryWorkflow(ctx, pipeline.WorkflowID(id), "", pipeline.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// waitPhase waits until the run reports phase.
func (e *env) waitPhase(ctx context.Context, id int, phase string) error {
	for {
		if st, err := e.status(ctx, id); err == nil && st.Phase == phase {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %d never reached phase %s: %w", id, phase, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitActivity waits until the run's pending activity typ is started in
// its attempt-th try.
func (e *env) waitActivity(ctx context.Context, id int, typ string, attempt int) error {
	for {
		d, err := e.tc.DescribeWorkflow(ctx, pipeline.WorkflowID(id), "")
		if err == nil {
			for _, pa := range d.RawResponse.PendingActivities {
				if pa.GetActivityType().GetName() == typ && int(pa.Attempt) == attempt && pa.State == enumspb.PENDING_ACTIVITY_STATE_STARTED {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %d: %s try %d never started: %w", id, typ, attempt, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// workflow describes the service's run for the invariant checker.
func (e *env) workflow(id int) invariant.Workflow {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := e.tc.DescribeWorkflow(ctx, pipeline.WorkflowID(id), "")
	if err != nil {
		return invariant.Workflow{}
	}
	st := d.RawResponse.WorkflowExecutionInfo.Status
	wf := invariant.Workflow{Known: true, Status: strings.TrimPrefix(enumspb.WorkflowExecutionStatus_name[int32(st)], "WORKFLOW_EXECUTION_STATUS_")}
	if st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		s, err := e.status(ctx, id)
		if err != nil {
			return invariant.Workflow{}
		}
		wf.Phase = s.Phase
	}
	return wf
}

// verdict runs the chaos run's invariant checker on this one service.
func (e *env) verdict(v vm, exp invariant.Expect, requeues int) *invariant.Report {
	e.t.Helper()
	s := invariant.Service{ID: v.id, UserID: v.userID, DedicatedIP: v.ip4, AssignedIPs: v.ip6 + "\n", Domain: v.fqdn,
		Started: true, Expect: exp, Requeues: requeues,
		Target: invariant.Instance{Role: invariant.Target, ServiceID: v.id, Node: "pve1", VMID: v.vmid, Name: v.fqdn}}
	rows, err := invariant.Gather(context.Background(), e.store, []invariant.Service{s})
	require.NoError(e.t, err)
	return invariant.Check(invariant.Input{
		Ledger:   invariant.Ledger{Services: []invariant.Service{s}, Bystanders: append([]invariant.Instance{e.bystander}, e.extra...)},
		DB:       rows,
		Workflow: map[int]invariant.Workflow{v.id: e.workflow(v.id)},
		Sim:      invariant.Sim{Requests: e.st.Sim.Requests(), VMs: e.st.Sim.VMs()},
	})
}

// actionErrors is the action-log errors of the service's attempts.
func (e *env) actionErrors(v vm) string {
	logs, err := e.store.ActionLogs(context.Background(), v.id)
	require.NoError(e.t, err)
	var b strings.Builder
	for _, l := range logs {
		b.WriteString(l.Errors + "\n")
	}
	return b.String()
}

// records lists a zone's records as "name type content" lines.
func (e *env) records(zone string) string {
	rr, err := e.pdns.Records(zone)
	require.NoError(e.t, err)
	var b strings.Builder
	for _, r := range rr {
		for _, rec := range r.Records {
			fmt.Fprintf(&b, "%s %s %s\n", r.Name, r.Type, rec.Content)
		}
	}
	return b.String()
}
