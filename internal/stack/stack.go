// Package stack assembles a whole terminate stack on one machine — the
// Proxmox simulator, a DNS server, the database, a Temporal worker and the
// config file the starter reads — for `make demo` and, on the services of
// package testenv, for every integration test (Env), the chaos run and the
// benchmark (StartSim, PVEConfig, WriteConfig, Seed).
package stack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"gopkg.in/yaml.v3"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// Token of the simulated cluster.
const (
	TokenID     = "root@pam!terminate"
	TokenSecret = "5d3b2f4e-8c1a-4f7e-9b2d-6a0c1e7f3a95"
	ServerName  = "pve-sim"
)

// FastTiming compresses the spec's windows for tests and the demo while
// keeping their order: poll < progress < graceful window, and so on.
func FastTiming() pipeline.Timing {
	return pipeline.Timing{
		StopPoll: 250 * time.Millisecond, StopWindow: 3 * time.Second, ProgressEvery: 750 * time.Millisecond,
		ForceWindow: 1500 * time.Millisecond, TaskPoll: 100 * time.Millisecond, DeleteTaskWindow: 20 * time.Second,
		DeleteAttempts: 2, DeleteBackoff: 200 * time.Millisecond, BackupsWindow: time.Minute, DNSWindow: time.Minute,
	}
}

// Options describe the stack.
type Options struct {
	Dir          string               // config file and scratch files
	DB           dbmodel.Config       // an existing database (MariaDB in tests, SQLite in the demo)
	TemporalHost string               // host:port of a running Temporal frontend
	TaskQueue    string               // default proxmox-terminate
	Fixture      pvesim.Fixture       // the simulated cluster
	DNS          []dns.ProviderConfig // DNS providers
	Timing       pipeline.Timing      // default FastTiming
	WorkerOut    io.Writer            // the worker's live lines; default io.Discard
	Client       client.Client        // Temporal client for the worker
	PVETLS       bool                 // serve the simulator over HTTPS (fingerprint-pinned)
	PVEListen    string               // default 127.0.0.1:0
	NoWorker     bool                 // write the config but run no in-process worker (tests run the binary)
}

// Stack is a running stack.
type Stack struct {
	Sim        *pvesim.Sim
	SimURL     string
	Config     *config.Config
	ConfigPath string
	Deps       *app.Deps
	Worker     worker.Worker // nil with NoWorker
}

// Start starts the simulator, writes the config file, and starts a worker.
func Start(o Options) (*Stack, error) {
	if o.Timing == (pipeline.Timing{}) {
		o.Timing = FastTiming()
	}
	if o.TaskQueue == "" {
		o.TaskQueue = pipeline.TaskQueue
	}
	if o.WorkerOut == nil {
		o.WorkerOut = io.Discard
	}
	if o.PVEListen == "" {
		o.PVEListen = "127.0.0.1:0"
	}
	if o.Fixture.Tokens == nil {
		o.Fixture.Tokens = map[string]string{TokenID: TokenSecret}
	}
	sim, u, err := StartSim(o.Fixture, o.PVEListen, o.PVETLS)
	if err != nil {
		return nil, err
	}
	pc := PVEConfig(u)
	if o.PVETLS {
		pc.Fingerprint = sim.CertFingerprintSHA256()
	}
	cfg := &config.Config{
		Temporal: config.Temporal{Address: o.TemporalHost, Namespace: "default", TaskQueue: o.TaskQueue},
		Database: o.DB, Proxmox: []pve.Config{pc}, DNS: o.DNS, Timing: o.Timing,
	}
	path := filepath.Join(o.Dir, "config.yaml")
	if err := WriteConfig(path, cfg); err != nil {
		sim.Close()
		return nil, err
	}
	loaded, err := config.Load(path)
	if err != nil {
		sim.Close()
		return nil, err
	}
	deps, err := app.Open(loaded, o.WorkerOut)
	if err != nil {
		sim.Close()
		return nil, err
	}
	if o.NoWorker {
		return &Stack{Sim: sim, SimURL: u, Config: loaded, ConfigPath: path, Deps: deps}, nil
	}
	w := app.NewWorker(o.Client, deps)
	if err := w.Start(); err != nil {
		deps.Close()
		sim.Close()
		return nil, err
	}
	return &Stack{Sim: sim, SimURL: u, Config: loaded, ConfigPath: path, Deps: deps, Worker: w}, nil
}

// StartSim loads fx into a new simulator and serves it on listen; url is
// its API base (…/api2/json).
func StartSim(fx pvesim.Fixture, listen string, tls bool) (sim *pvesim.Sim, url string, err error) {
	sim = pvesim.New(pvesim.Options{})
	if err := sim.LoadFixture(fx); err != nil {
		return nil, "", fmt.Errorf("simulator fixture: %w", err)
	}
	if url, err = sim.Start(listen, tls); err != nil {
		return nil, "", err
	}
	return sim, url, nil
}

// PVEConfig is the simulated cluster at simURL (…/api2/json) as the config
// file names it.
func PVEConfig(simURL string) pve.Config {
	return pve.Config{Name: ServerName, URL: strings.TrimSuffix(simURL, "/api2/json"), TokenID: TokenID, TokenSecret: TokenSecret, Timeout: 10 * time.Second}
}

// Stop stops the worker and the simulator.
func (s *Stack) Stop() {
	if s.Worker != nil {
		s.Worker.Stop()
	}
	s.Deps.Close()
	s.Sim.Close()
}

// WriteConfig writes cfg as YAML (mode 0600: it may hold secrets).
func WriteConfig(path string, cfg *config.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Service is a WHMCS service with its VM, to seed.
type Service struct {
	ID, UserID  int
	Domain      string
	DedicatedIP string
	AssignedIPs string
	VMID        int
	Node        string
	VMName      string
	VMStatus    string // default "ready"
}

// Seed inserts the tblhosting row and the VM row.
func Seed(ctx context.Context, store *dbmodel.Store, s Service) error {
	if err := whmcsschema.InsertService(store.DB(), whmcsschema.Service{
		ID: s.ID, UserID: s.UserID, Domain: s.Domain, DedicatedIP: s.DedicatedIP, AssignedIPs: s.AssignedIPs,
	}); err != nil {
		return err
	}
	if s.VMStatus == "" {
		s.VMStatus = "ready"
	}
	return store.InsertVM(ctx, dbmodel.VMInfo{
		ServiceID: s.ID, VMStatus: s.VMStatus, Server: ServerName, Node: s.Node, VMID: s.VMID,
		VMName: s.VMName, Hostname: s.Domain, IPv4: s.DedicatedIP,
	})
}

// Cluster returns a fixture with nodes pve1 and pve2, a local backup
// storage per node, a shared PBS storage, and no VMs.
func Cluster() pvesim.Fixture {
	return pvesim.Fixture{
		Release:  "8.2",
		Tokens:   map[string]string{TokenID: TokenSecret},
		LockWait: pvesim.Duration(500 * time.Millisecond),
		Nodes:    []pvesim.FixtureNode{{Name: "pve1"}, {Name: "pve2"}},
		Storages: []pvesim.FixtureStorage{
			{ID: "local", Type: "dir", Content: []string{"backup", "iso", "vztmpl"}},
			{ID: "local-lvm", Type: "lvmthin", Content: []string{"images", "rootdir"}},
			{ID: "pbs", Type: "pbs", Content: []string{"backup"}, Shared: true},
		},
	}
}

// AddVMWithBackups adds a running VM with one local and one PBS backup.
func AddVMWithBackups(sim *pvesim.Sim, node string, vmid int, name string, shutdown time.Duration) error {
	return AddVMSpecWithBackups(sim, RunningVM(node, vmid, name, shutdown))
}

// RunningVM is the spec of a running VM with one disk on local-lvm.
func RunningVM(node string, vmid int, name string, shutdown time.Duration) pvesim.VMSpec {
	return pvesim.VMSpec{Node: node, VMID: vmid, Name: name, Status: "running",
		ShutdownDelay: shutdown, Disks: []string{fmt.Sprintf("local-lvm:vm-%d-disk-0", vmid)}}
}

// AddVMSpecWithBackups adds the VM spec with one local backup (two days
// old) and one PBS backup (one day old).
func AddVMSpecWithBackups(sim *pvesim.Sim, spec pvesim.VMSpec) error {
	if err := sim.AddVM(spec); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := sim.AddBackup(pvesim.FixtureBackup{Storage: "local", Node: spec.Node, VMID: spec.VMID, CTime: pvesim.Timestamp(now.Add(-48 * time.Hour))}); err != nil {
		return err
	}
	_, err := sim.AddBackup(pvesim.FixtureBackup{Storage: "pbs", VMID: spec.VMID, CTime: pvesim.Timestamp(now.Add(-24 * time.Hour))})
	return err
}
