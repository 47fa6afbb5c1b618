package stack

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// Env is the integration tests' environment: the test binary's shared
// Temporal dev server, a fresh MariaDB database and, unless NoPDNS, a real
// PowerDNS. Env.Start adds the simulator and the worker.
type Env struct {
	T     testing.TB
	Dev   testenv.Temporal
	Store *dbmodel.Store // the database, directly
	DB    dbmodel.Config
	PDNS  *pdnstest.Server // nil with NoPDNS
	Out   *testenv.Buffer  // the in-process worker's output
	Stack *Stack           // set by Start
}

// EnvOptions describe an Env.
type EnvOptions struct {
	NoPDNS bool // no PowerDNS server
}

// IDs makes service ids (and task queues) unique across a test binary: its
// tests share one dev server and so one workflow-id space. It starts from
// the clock, so that runs of the binary do not meet either.
var IDs = new(atomic.Int64)

func init() {
	// Test binaries that share one server (make test-cluster) get ranges
	// of their own: 100,000 ids each, picked by pid and clock, below
	// WHMCS's int(10).
	IDs.Store((int64(os.Getpid())*7919+time.Now().Unix())%20000*100000 + 1000)
}

// NextID is an id no other test of this binary uses.
func NextID() int { return int(IDs.Add(1)) }

// NewEnv starts (or reuses) the services for t; everything stops in t.Cleanup.
func NewEnv(t testing.TB, o EnvOptions) *Env {
	t.Helper()
	e := &Env{T: t, Dev: testenv.DevServer(t), Out: &testenv.Buffer{}}
	e.Store, e.DB = testenv.NewDatabase(t)
	if !o.NoPDNS {
		e.PDNS = pdnstest.Start(t)
	}
	return e
}

// Start starts the stack on the environment. Fields of o left zero get the
// environment's: a scratch Dir, the database, the dev server and its
// client, a task queue of its own, Cluster(), the PowerDNS provider
// (named "powerdns") and Out for the worker's lines.
func (e *Env) Start(o Options) *Stack {
	t := e.T
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.DB.Driver == "" && o.DB.DSN == "" {
		o.DB = e.DB
	}
	if o.TemporalHost == "" {
		o.TemporalHost = e.Dev.FrontendHostPort()
	}
	if o.Client == nil {
		o.Client = e.Dev.Client()
	}
	if o.TaskQueue == "" {
		o.TaskQueue = fmt.Sprintf("pt-%s-%d", t.Name(), NextID())
	}
	if o.Fixture.Nodes == nil {
		o.Fixture = Cluster()
	}
	if o.DNS == nil && e.PDNS != nil {
		o.DNS = []dns.ProviderConfig{e.PDNS.Config("powerdns")}
	}
	if o.WorkerOut == nil {
		o.WorkerOut = e.Out
	}
	st, err := Start(o)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	t.Cleanup(st.Stop)
	e.Stack = st
	return st
}

// VM is a seeded service: its tblhosting row, VM row and simulated VM.
type VM struct {
	ID, UserID, VMID int
	FQDN, IP4, IP6   string
}

// NewVM derives a service's user, vmid, name and addresses from its id.
func NewVM(id int) VM {
	return VM{ID: id, UserID: id + 500000, VMID: 1000 + id%8000, FQDN: fmt.Sprintf("%d-vm.example.com", id),
		IP4: fmt.Sprintf("192.0.2.%d", 10+id%200), IP6: fmt.Sprintf("2001:db8::%x", id%60000+1)}
}

// SeedVM seeds a new service on pve1: a running VM (shutdown delay
// shutdown; spec may change it further) with two backups, and the rows.
func (e *Env) SeedVM(shutdown time.Duration, spec func(*pvesim.VMSpec)) VM {
	t := e.T
	t.Helper()
	v := NewVM(NextID())
	s := RunningVM("pve1", v.VMID, v.FQDN, shutdown)
	if spec != nil {
		spec(&s)
	}
	if err := AddVMSpecWithBackups(e.Stack.Sim, s); err != nil {
		t.Fatal(err)
	}
	if err := Seed(context.Background(), e.Store, Service{
		ID: v.ID, UserID: v.UserID, Domain: v.FQDN, DedicatedIP: v.IP4, AssignedIPs: v.IP6 + "\n",
		VMID: v.VMID, Node: "pve1", VMName: v.FQDN,
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// SeedRecords adds the VM's A and AAAA records (and a neighbour's,
// keep.example.com, that must stay) to example.com and its IPv4 PTR record;
// with reverse6 also its IPv6 PTR record.
func (e *Env) SeedRecords(v VM, reverse6 bool) {
	e.T.Helper()
	rr := func(name, typ, content string) powerdns.RRset {
		return powerdns.RRset{Name: name, Type: typ, TTL: 300, Records: []powerdns.Record{{Content: content}}}
	}
	ptr := func(ip string) powerdns.RRset { return rr(dns.ReverseName(netip.MustParseAddr(ip)), "PTR", v.FQDN+".") }
	e.Zone("example.com", rr(v.FQDN+".", "A", v.IP4), rr(v.FQDN+".", "AAAA", v.IP6), rr("keep.example.com.", "A", "198.51.100.1"))
	e.Zone("2.0.192.in-addr.arpa", ptr(v.IP4))
	if reverse6 {
		e.Zone("8.b.d.0.1.0.0.2.ip6.arpa", ptr(v.IP6))
	}
}

// Zone creates a zone on the PowerDNS server or adds rrsets to it.
func (e *Env) Zone(name string, rrsets ...powerdns.RRset) {
	e.T.Helper()
	if err := pdnstest.EnsureZone(e.PDNS, name, rrsets...); err != nil {
		e.T.Fatal(err)
	}
}

// Records lists a zone's records as "name type content" lines.
func (e *Env) Records(zone string) string {
	e.T.Helper()
	s, err := pdnstest.RecordLines(e.PDNS, zone)
	if err != nil {
		e.T.Fatal(err)
	}
	return s
}

// Row is the service's rows as the starter reads them.
func (e *Env) Row(id int) dbmodel.Service {
	e.T.Helper()
	svc, err := e.Store.LoadService(context.Background(), id)
	if err != nil {
		e.T.Fatal(err)
	}
	return svc
}

// Activity is the descriptions of the user's WHMCS activity-log entries.
func (e *Env) Activity(userID int) []string {
	e.T.Helper()
	rows, err := e.Store.ActivityLogs(context.Background(), userID)
	if err != nil {
		e.T.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Description)
	}
	return out
}

// ModuleLogWritten waits (at most 20 s) until the in-process worker has
// written every tblmodulelog row it queued. The worker writes them in the
// background, a little after the calls they describe; a test that reads
// or counts the table waits for them first.
func (e *Env) ModuleLogWritten() {
	e.T.Helper()
	w := e.Stack.Deps.ModuleLog
	for deadline := time.Now().Add(20 * time.Second); w.Queued() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.T.Fatalf("the worker's module log still holds %d rows after 20 s", w.Queued())
		}
	}
}
