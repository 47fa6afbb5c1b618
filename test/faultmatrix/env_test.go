package faultmatrix

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
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
	testenv.Main(m)
}

// Service ids are unique across the package: every test shares one dev server.
var nextID = stack.IDs

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
	se         *stack.Env
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	se := stack.NewEnv(t, stack.EnvOptions{NoPDNS: o.dns == dnsHang})
	e := &env{t: t, store: se.Store, out: se.Out, tc: se.Dev.Client(), pdns: se.PDNS, se: se}
	dir := t.TempDir()

	starterDB := se.DB
	if o.dbUser != "" {
		starterDB = e.dbAccount(o.dbUser)
	}
	workerDB := starterDB
	if o.dbGate {
		workerDB = e.gated(starterDB)
	}
	fx := stack.Cluster()
	if o.fixture != nil {
		o.fixture(&fx)
	}
	e.st = se.Start(stack.Options{Dir: dir, DB: workerDB, TaskQueue: fmt.Sprintf("fm-%d", nextID.Add(1)),
		Fixture: fx, DNS: e.dnsProviders(o), NoWorker: o.binWorker})

	// The starter reaches the database directly: the gate is the worker's.
	loaded, err := config.Load(e.st.ConfigPath)
	require.NoError(t, err)
	loaded.Database = starterDB
	e.starterCfg = filepath.Join(dir, "starter.yaml")
	require.NoError(t, stack.WriteConfig(e.starterCfg, loaded))

	if o.binWorker {
		e.worker = &workerProc{&testenv.Proc{Name: "worker", Path: testenv.Binary(t, "worker"),
			Args: []string{"--config", e.st.ConfigPath, "--http-addr", ""}, Out: e.out}}
		require.NoError(t, e.worker.start())
		t.Cleanup(e.worker.kill)
	}
	e.addBystander()
	return e
}

// dbAccount creates the MariaDB account "user:password" with every right on
// the test database, and returns the database's config with it.
func (e *env) dbAccount(account string) dbmodel.Config {
	t := e.t
	user, pass, _ := strings.Cut(account, ":")
	cfg := e.se.DB
	require.NoError(t, e.store.DB().Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, pass)).Error)
	t.Cleanup(func() { e.store.DB().Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	require.NoError(t, e.store.DB().Exec(fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%%'", dsnDB(t, cfg.DSN), user)).Error)
	c, err := gomysql.ParseDSN(cfg.DSN)
	require.NoError(t, err)
	c.User, c.Passwd = user, pass
	cfg.DSN = c.FormatDSN()
	return cfg
}

// gated puts a gate the test can close between cfg's client and MariaDB.
func (e *env) gated(cfg dbmodel.Config) dbmodel.Config {
	c, err := gomysql.ParseDSN(cfg.DSN)
	require.NoError(e.t, err)
	e.gate, err = chaos.NewGate(c.Addr)
	require.NoError(e.t, err)
	e.t.Cleanup(e.gate.Close)
	c.Addr = e.gate.Addr()
	cfg.DSN = c.FormatDSN()
	return cfg
}

// dnsProviders is the worker's DNS configuration for the mode.
func (e *env) dnsProviders(o envOpts) []dns.ProviderConfig {
	var out []dns.ProviderConfig
	switch o.dns {
	case dnsNormal, dnsDown:
		out = append(out, e.pdns.Config("powerdns"))
	case dnsBadKey:
		c := e.pdns.Config("powerdns")
		c.APIKey = "fm-wrong-key-0123456789"
		out = append(out, c)
	case dnsHang:
		out = append(out, dns.ProviderConfig{Kind: "powerdns", Name: "powerdns", URL: "http://" + testenv.HangingServer(e.t),
			APIKey: "fm-hang-key-0123456789", Timeout: time.Second, Budget: 3 * time.Second})
	}
	if o.wrongKeyEnv != "" {
		out = append(out, wrongKeyProvider(e.pdns.URL, o.wrongKeyEnv))
	}
	return out
}

// addBystander adds a VM on the same node: nothing may ever stop or delete it.
func (e *env) addBystander() {
	by := invariant.Instance{Role: invariant.Bystander, Node: "pve1", VMID: 9001, Name: "bystander.example.net"}
	require.NoError(e.t, stack.AddVMWithBackups(e.st.Sim, by.Node, by.VMID, by.Name, 200*time.Millisecond))
	by.Created = time.Now()
	by.Backups = e.st.Sim.Backups(by.VMID)
	e.bystander = by
}

// dsnDB is the database name of a DSN.
func dsnDB(t *testing.T, dsn string) string {
	c, err := gomysql.ParseDSN(dsn)
	require.NoError(t, err)
	return c.DBName
}

// syncBuffer collects the worker's output.
type syncBuffer = testenv.Buffer

// workerProc is the worker binary.
type workerProc struct{ *testenv.Proc }

func (w *workerProc) start() error { return w.Start() }
func (w *workerProc) kill()        { w.Kill() }

// vm is a seeded service with a running VM, backups and DNS records.
type vm struct {
	id, userID, vmid int
	fqdn, ip4, ip6   string
}

func (e *env) seed(spec func(*pvesim.VMSpec)) vm {
	e.t.Helper()
	v := e.se.SeedVM(300*time.Millisecond, spec)
	if e.pdns != nil {
		e.se.SeedRecords(v, false)
	}
	return vm{id: v.ID, userID: v.UserID, vmid: v.VMID, fqdn: v.FQDN, ip4: v.IP4, ip6: v.IP6}
}

// starter runs the starter binary with the starter's config.
func (e *env) starter(args ...string) (int, string, string) {
	return runStarter(e.t, testenv.Binary(e.t, "starter"), append(args, "--config", e.starterCfg)...)
}

func runStarter(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, out, errOut, err := testenv.Run(exec.CommandContext(ctx, bin, args...))
	if err != nil {
		t.Fatalf("starter %v: %v", args, err)
	}
	return code, out, errOut
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
	return invariant.DescribeWorkflow(context.Background(), e.tc, id, 10*time.Second)
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
	e.t.Helper()
	return e.se.Records(zone)
}
