package faultmatrix

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
	"github.com/proxmox-terminate/proxmox-terminate/test/chaos/invariant"
)

// Routes faults are aimed at.
const (
	routeVM       = "/nodes/{node}/qemu/{vmid}"
	routeShutdown = "/nodes/{node}/qemu/{vmid}/status/shutdown"
	routeStop     = "/nodes/{node}/qemu/{vmid}/status/stop"
	routeStorages = "/nodes/{node}/storage"
	routeVolume   = "/nodes/{node}/storage/{storage}/content/{volume}"
	routeCluster  = "/cluster/resources"
	routeConfig   = "/nodes/{node}/qemu/{vmid}/config"
	routeStatus   = "/nodes/{node}/qemu/{vmid}/status/current"
)

// matrixCase is one injected fault and its documented end state.
type matrixCase struct {
	Phase, Provider, Fault string
	Terminated             bool   // documented end state: terminated (exit 0); else error_terminate (exit 3)
	Reason                 string // error_terminate: regexp the waiting run's reason matches
	VMGone                 bool   // error_terminate although the VM is gone (documented refusal)
	Env                    envOpts
	Spec                   func(*pvesim.VMSpec)
	Faults                 func(vmid int) []pvesim.Fault
	// Setup runs after the VM is seeded, before the click.
	Setup func(t *testing.T, e *env, v vm)
	// During runs alongside the starter (phase watchers, outages, kills).
	During func(ctx context.Context, e *env, v vm) error
	// Check adds the case's own checks after the end state was verified.
	Check func(t *testing.T, e *env, v vm)
}

func (c matrixCase) name() string {
	return strings.NewReplacer(" ", "_", "(", "", ")", "", ",", "", "/", "-").Replace(c.Phase + "/" + c.Provider + "/" + c.Fault)
}

func (c matrixCase) endState() string {
	if c.Terminated {
		return "terminated"
	}
	return "error_terminate"
}

// outage closes the worker's database gate for d.
func outage(e *env, d time.Duration) {
	e.gate.Down()
	time.Sleep(d)
	if err := e.gate.Up(); err != nil {
		e.t.Errorf("database gate up: %v", err)
	}
}

// slowDelete holds the DELETE phase for a moment, so that a watcher can act
// inside it.
func slowDelete(vmid int) pvesim.Fault {
	return pvesim.Fault{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultLatency, Delay: 1500 * time.Millisecond}
}

func backupsLeft(n int) func(t *testing.T, e *env, v vm) {
	return func(t *testing.T, e *env, v vm) {
		require.Len(t, e.st.Sim.Backups(v.vmid), n, "backups left")
	}
}

func errorsContain(s string) func(t *testing.T, e *env, v vm) {
	return func(t *testing.T, e *env, v vm) {
		require.Contains(t, e.actionErrors(v), s)
	}
}

func all(checks ...func(t *testing.T, e *env, v vm)) func(t *testing.T, e *env, v vm) {
	return func(t *testing.T, e *env, v vm) {
		for _, c := range checks {
			c(t, e, v)
		}
	}
}

// matrix is the fault matrix; README.md lists it.
var matrix = []matrixCase{
	{Phase: "load", Provider: "MariaDB", Fault: "database unreachable for 4 s as the run starts", Terminated: true,
		Env: envOpts{dbGate: true},
		During: func(ctx context.Context, e *env, v vm) error {
			outage(e, 4*time.Second) // the click already ran: the gate is the worker's
			return nil
		}},
	{Phase: "stop", Provider: "Proxmox", Fault: "guest ignores ACPI", Terminated: true,
		Spec:  func(s *pvesim.VMSpec) { s.IgnoreACPI = true },
		Check: func(t *testing.T, e *env, v vm) { require.Contains(t, e.out.String(), "force-stop request sent") }},
	{Phase: "stop", Provider: "Proxmox", Fault: "paused guest", Terminated: true,
		Spec: func(s *pvesim.VMSpec) { s.Status = "paused" }},
	{Phase: "stop", Provider: "Proxmox", Fault: "node unreachable (595) three times", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Kind: pvesim.FaultNodeUnreachable, Count: 3, Message: "No route to host"}}
		}},
	// On the stop phase's status reads: the same 401 at the click is an
	// error line for the admin (TestClickWithARefusedTokenIsAnError).
	{Phase: "stop", Provider: "Proxmox", Fault: "API token expired (401) twice", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeStatus, Method: "GET", Kind: pvesim.FaultTokenExpired, Count: 2}}
		}},
	{Phase: "stop", Provider: "Proxmox", Fault: "shutdown task fails", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeShutdown, Kind: pvesim.FaultTaskFail, Message: "fm: QMP command 'system_powerdown' failed"}}
		}},
	{Phase: "stop", Provider: "Proxmox", Fault: "config lock timeout once", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Kind: pvesim.FaultLockTimeout, Count: 1}}
		}},
	{Phase: "stop", Provider: "Temporal", Fault: "worker SIGKILLed mid-stop", Terminated: true,
		Env:  envOpts{binWorker: true},
		Spec: func(s *pvesim.VMSpec) { s.IgnoreACPI = true },
		During: func(ctx context.Context, e *env, v vm) error {
			if err := e.waitPhase(ctx, v.id, pipeline.PhaseStop); err != nil {
				return err
			}
			time.Sleep(time.Second)
			e.worker.kill()
			time.Sleep(500 * time.Millisecond)
			return e.worker.start()
		}},
	{Phase: "force-stop", Provider: "Proxmox", Fault: "hung QEMU", Reason: `^VM \d+ is running - destroy failed$`,
		Spec: func(s *pvesim.VMSpec) { s.Hang = true }},
	{Phase: "force-stop", Provider: "Proxmox", Fault: "hard stop refused (HTTP 500) on an ACPI-deaf guest", Reason: `^VM \d+ is running - destroy failed$`,
		Spec: func(s *pvesim.VMSpec) { s.IgnoreACPI = true },
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeStop, Kind: pvesim.FaultHTTPError, Message: "fm: stop refused"}}
		}},
	{Phase: "backups", Provider: "Proxmox", Fault: "backup deletion task fails", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVolume, Kind: pvesim.FaultDeleteTaskFail, Message: "fm: backup volume busy"}}
		},
		Check: all(backupsLeft(2), errorsContain("backup delete FAIL"))},
	{Phase: "backups", Provider: "Proxmox", Fault: "storage list fails (HTTP 500)", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{Route: routeStorages, Method: "GET", Kind: pvesim.FaultHTTPError, Message: "fm: storage daemon down"}}
		},
		Check: all(backupsLeft(2), errorsContain("fm: storage daemon down"))},
	{Phase: "backups", Provider: "Proxmox", Fault: "protected backup", Terminated: true,
		Setup: func(t *testing.T, e *env, v vm) {
			_, err := e.st.Sim.AddBackup(pvesim.FixtureBackup{Storage: "pbs", VMID: v.vmid, Protected: true,
				CTime: pvesim.Timestamp(time.Now().UTC().Truncate(time.Second).Add(-72 * time.Hour))})
			require.NoError(t, err)
		},
		Check: all(backupsLeft(1), func(t *testing.T, e *env, v vm) {
			require.Contains(t, e.out.String(), "backup kept (protected)")
		})},
	{Phase: "dns", Provider: "PowerDNS", Fault: "server down", Terminated: true,
		Env:   envOpts{dns: dnsDown},
		Check: errorsContain("connection refused")},
	{Phase: "dns", Provider: "PowerDNS", Fault: "wrong API key (401)", Terminated: true,
		Env: envOpts{dns: dnsBadKey},
		Check: all(errorsContain("401"), func(t *testing.T, e *env, v vm) {
			require.Contains(t, e.records("example.com."), v.fqdn, "records are left when the provider refuses")
		})},
	{Phase: "dns", Provider: "PowerDNS", Fault: "server accepts but never answers", Terminated: true,
		Env:   envOpts{dns: dnsHang},
		Check: errorsContain("FAIL [powerdns]")},
	{Phase: "delete", Provider: "Proxmox", Fault: "protection mode", Reason: `^can't remove VM \d+ - protection mode enabled$`,
		Spec: func(s *pvesim.VMSpec) { s.Protection = true }},
	{Phase: "delete", Provider: "Proxmox", Fault: "stopped VM locked by a backup", Reason: `^VM is locked \(backup\)$`,
		Spec: func(s *pvesim.VMSpec) { s.Status, s.Lock = "stopped", "backup" }},
	{Phase: "delete", Provider: "Proxmox", Fault: "running VM locked by a backup", Reason: `^VM \d+ is running - destroy failed$`,
		Spec: func(s *pvesim.VMSpec) { s.Lock = "backup" }},
	{Phase: "delete", Provider: "Proxmox", Fault: "destroy task fails", Reason: `^fm: lvremove failed$`,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultDeleteTaskFail, Message: "fm: lvremove failed"}}
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "config lock timeout once", Terminated: true,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultLockTimeout, Count: 1}}
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "config lock timeout every time", Reason: `can't lock file '/var/lock/qemu-server/lock-\d+\.conf' - got timeout`,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultLockTimeout}}
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "node unreachable (595) on DELETE", Reason: `No route to host`,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultNodeUnreachable, Message: "No route to host"}}
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "API token expired (401) on DELETE", Reason: `token '[^']+' access expired`,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultTokenExpired}}
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "HTTP 500 on DELETE", Reason: `^fm: storage backend error$`,
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{{VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultHTTPError, Message: "fm: storage backend error"}}
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "deletion cannot be confirmed (cluster/resources 500), then re-queued", Reason: `fm: cluster resources unavailable`, VMGone: true,
		Faults: func(vmid int) []pvesim.Fault { return []pvesim.Fault{slowDelete(vmid)} },
		During: func(ctx context.Context, e *env, v vm) error {
			if err := e.waitPhase(ctx, v.id, pipeline.PhaseDelete); err != nil {
				return err
			}
			e.st.Sim.SetFault(pvesim.Fault{Route: routeCluster, Method: "GET", Kind: pvesim.FaultHTTPError, Count: 1, Message: "fm: cluster resources unavailable"})
			return nil
		},
		Check: func(t *testing.T, e *env, v vm) {
			// The admin re-queues: the VM is gone, the new attempt confirms it and cleans the database.
			code, out, errOut := e.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", "terminate")
			require.Equal(t, 0, code, out+errOut)
			code, out, _ = e.starter("status", "--service-id", fmt.Sprint(v.id), "--follow")
			require.Equal(t, 0, code, out)
			rep := e.verdict(v, invariant.Expect{Class: "requeued", Success: true}, 1)
			require.Empty(t, rep.Violations)
			require.Equal(t, 1, rep.Terminated)
		}},
	{Phase: "delete", Provider: "Proxmox", Fault: "vmid taken by another VM mid-run", Reason: `^identity mismatch at pve1/\d+: `, VMGone: true,
		Faults: func(vmid int) []pvesim.Fault {
			// A slow storage list holds the run in the backups phase.
			return []pvesim.Fault{{Route: routeStorages, Method: "GET", Kind: pvesim.FaultLatency, Delay: 1500 * time.Millisecond}}
		},
		During: func(ctx context.Context, e *env, v vm) error {
			// Once the stop phase is over, the VM is deleted behind the run's
			// back and its vmid given to a new VM on the same node.
			if err := e.waitPhase(ctx, v.id, pipeline.PhaseBackups); err != nil {
				return err
			}
			if err := pveDelete(e, "pve1", v.vmid); err != nil {
				return err
			}
			other := invariant.Instance{Role: invariant.Bystander, Node: "pve1", VMID: v.vmid, Name: "other-customer.example.org"}
			if err := e.st.Sim.AddVM(pvesim.VMSpec{Node: other.Node, VMID: other.VMID, Name: other.Name, Status: "running", ShutdownDelay: 200 * time.Millisecond}); err != nil {
				return err
			}
			other.Created = time.Now()
			e.extra = append(e.extra, other)
			return nil
		},
		Check: func(t *testing.T, e *env, v vm) {
			st, ok := e.st.Sim.VM("pve1", v.vmid)
			require.True(t, ok)
			require.Equal(t, "other-customer.example.org", st.Name)
			require.Equal(t, "running", st.Status)
		}},
	{Phase: "delete", Provider: "Temporal", Fault: "worker SIGKILLed twice during DELETE", Terminated: true,
		Env: envOpts{binWorker: true},
		Faults: func(vmid int) []pvesim.Fault {
			// Slow answers keep each try of DeleteVM busy long enough to be
			// killed in the middle: the first after its DELETE reached
			// Proxmox, the second during its identity check.
			return []pvesim.Fault{slowDelete(vmid),
				{VMID: vmid, Route: routeConfig, Method: "GET", Kind: pvesim.FaultLatency, Delay: 1500 * time.Millisecond}}
		},
		During: func(ctx context.Context, e *env, v vm) error {
			for try, after := range []time.Duration{2200 * time.Millisecond, 700 * time.Millisecond} {
				if err := e.waitActivity(ctx, v.id, "DeleteVM", try+1); err != nil {
					return err
				}
				time.Sleep(after)
				e.worker.kill()
				if err := e.worker.start(); err != nil {
					return err
				}
			}
			return nil
		}},
	{Phase: "clean-db", Provider: "MariaDB", Fault: "database unreachable for 4 s after the DELETE", Terminated: true,
		Env:    envOpts{dbGate: true},
		Faults: func(vmid int) []pvesim.Fault { return []pvesim.Fault{slowDelete(vmid)} },
		During: func(ctx context.Context, e *env, v vm) error {
			if err := e.waitPhase(ctx, v.id, pipeline.PhaseDelete); err != nil {
				return err
			}
			outage(e, 4*time.Second)
			return nil
		}},
	// A refusal the deletability check cannot predict (a storage error on
	// the DELETE itself), so that the run reaches the delete phase.
	{Phase: "delete (failure record)", Provider: "MariaDB", Fault: "database unreachable for 4 s when the failure is recorded", Reason: `^fm: storage backend error$`,
		Env: envOpts{dbGate: true},
		Faults: func(vmid int) []pvesim.Fault {
			return []pvesim.Fault{slowDelete(vmid), {VMID: vmid, Route: routeVM, Method: "DELETE", Kind: pvesim.FaultHTTPError, Message: "fm: storage backend error"}}
		},
		During: func(ctx context.Context, e *env, v vm) error {
			if err := e.waitPhase(ctx, v.id, pipeline.PhaseDelete); err != nil {
				return err
			}
			outage(e, 4*time.Second)
			return nil
		}},
}

// pveDelete deletes a VM through the simulator's API, as another admin would.
func pveDelete(e *env, node string, vmid int) error {
	req, err := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/nodes/%s/qemu/%d", e.st.SimURL, node, vmid), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "PVEAPIToken="+stack.TokenID+"="+stack.TokenSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("DELETE vm %d: %s", vmid, resp.Status)
	}
	for i := 0; i < 100; i++ {
		if st, ok := e.st.Sim.VM(node, vmid); !ok || st.Name == "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vm %d still exists after DELETE", vmid)
}

func TestFaultMatrix(t *testing.T) {
	require.GreaterOrEqual(t, len(matrix), 20)
	for _, c := range matrix {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			runCase(t, c)
		})
	}
}

func runCase(t *testing.T, c matrixCase) {
	e := newEnv(t, c.Env)
	v := e.seed(c.Spec)
	if c.Setup != nil {
		c.Setup(t, e, v)
	}
	if c.Faults != nil {
		for _, f := range c.Faults(v.vmid) {
			e.st.Sim.SetFault(f)
		}
	}
	if c.Env.dns == dnsDown {
		require.NoError(t, e.pdns.Stop())
	}
	if c.Env.dbGate && c.Phase == "load" {
		e.gate.Down() // before the click: the worker's first LoadTarget fails
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	during := make(chan error, 1)
	if c.During != nil {
		go func() { during <- c.During(ctx, e, v) }()
	} else {
		during <- nil
	}
	code, out, errOut := e.starter("terminate", "--service-id", fmt.Sprint(v.id), "--follow")
	require.NoError(t, <-during)
	require.Empty(t, errOut)
	require.True(t, strings.HasPrefix(out, "success\n"), out)

	exp := invariant.Expect{Class: c.Fault, Success: c.Terminated, RefusalVMGone: c.VMGone}
	if c.Reason != "" {
		exp.Refusal = regexp.MustCompile(c.Reason)
	}
	rep := e.verdict(v, exp, 0)
	for _, viol := range rep.Violations {
		t.Errorf("%s: %s", viol.Kind, viol.Detail)
	}
	if c.Terminated {
		require.Equal(t, 0, code, "exit code\n%s", out)
		require.Equal(t, 1, rep.Terminated, "%s\nworker:\n%s", out, e.out.String())
		require.Contains(t, out, "result=success")
		if c.Env.dns == dnsNormal {
			require.NotContains(t, e.records("example.com."), v.fqdn)
			require.Contains(t, e.records("example.com."), "keep.example.com.")
		}
	} else {
		require.Equal(t, 3, code, "exit code\n%s", out)
		require.Equal(t, 1, rep.ErrorTerminate, "%s\nworker:\n%s", out, e.out.String())
		require.Contains(t, out, "result=error")
		require.Regexp(t, c.Reason, e.lastError(v))
	}
	if c.Check != nil {
		c.Check(t, e, v)
	}
}

func (e *env) lastError(v vm) string {
	svc, err := e.store.LoadService(context.Background(), v.id)
	require.NoError(e.t, err)
	return svc.VM.LastError
}

// README.md's table lists every case of the matrix, with its end state.
func TestREADMEListsEveryCase(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "test", "faultmatrix", "README.md"))
	require.NoError(t, err)
	rows := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 7 {
			continue
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		rows[strings.Join(cells[2:6], "|")] = true
	}
	for _, c := range matrix {
		end := c.endState()
		key := strings.Join([]string{c.Phase, c.Provider, c.Fault, end}, "|")
		require.True(t, rows[key], "README.md has no row | %s | %s | %s | %s |", c.Phase, c.Provider, c.Fault, end)
	}
}

// The README's table of faults proven in their own package names tests
// that exist.
func TestREADMENamesExistingTests(t *testing.T) {
	root := testenv.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "test", "faultmatrix", "README.md"))
	require.NoError(t, err)
	named := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(b), -1)
	require.NotEmpty(t, named)
	defined := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(`)
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
				defined[m[1]] = true
			}
		}
		return nil
	}))
	for _, m := range named {
		require.True(t, defined[m[1]], "README.md names %s, which no test file defines", m[1])
	}
}
