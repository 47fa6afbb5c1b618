package pve_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

const (
	tokenID = "root@pam!terminate"
	secret  = "5d3b2f4e-8c1a-4f7e-9b2d-6a0c1e7f3a95"
)

type env struct {
	sim    *pvesim.Sim
	client *pve.Client
	mu     sync.Mutex
	calls  []pve.Call
}

// start runs the simulator on the example fixture (compressed time) and a
// client against it. Every request the client sent is checked against the
// official API schema when the test ends.
func start(t *testing.T, release string, tlsOn bool, mod func(*pve.Config)) *env {
	t.Helper()
	fx, err := pvesim.LoadFixtureFile("../pvesim/testdata/example-fixture.json")
	require.NoError(t, err)
	fx.Release = release
	fx.Second = pvesim.Duration(20 * time.Millisecond)
	fx.LockWait = pvesim.Duration(200 * time.Millisecond)
	fx.Faults = nil
	sim := pvesim.New(pvesim.Options{})
	require.NoError(t, sim.LoadFixture(fx))
	u, err := sim.Start("127.0.0.1:0", tlsOn)
	require.NoError(t, err)
	t.Cleanup(func() { sim.Close() })
	e := &env{sim: sim}
	cfg := pve.Config{Name: "sim", URL: strings.TrimSuffix(u, "/api2/json"), TokenID: tokenID, TokenSecret: secret, Timeout: 5 * time.Second}
	if tlsOn {
		cfg.Fingerprint = sim.CertFingerprintSHA256()
	}
	if mod != nil {
		mod(&cfg)
	}
	e.client, err = pve.New(cfg, func(_ context.Context, c pve.Call) {
		e.mu.Lock()
		e.calls = append(e.calls, c)
		e.mu.Unlock()
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, r := range sim.Requests() {
			if r.Route == "" || strings.HasPrefix(r.Path, "/_sim") {
				continue
			}
			if r.Status == 400 && r.Params.Has("overrule-shutdown") && release < "8.2" {
				continue // Stop's documented probe on a cluster whose release could not be read
			}
			require.NoError(t, pvesim.CheckRequestForRelease(release, r.Method, r.Path, r.Params), "request %s %s %v", r.Method, r.Path, r.Params)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, c := range e.calls {
			for _, s := range []string{c.Path, c.Request, c.Response, c.Err} {
				require.NotContains(t, s, secret, "the token secret leaked into a module-log call")
			}
		}
	})
	return e
}

// shutdownTask sends a shutdown of vmid on pve1 with timeout seconds and
// returns how its task ended.
func (e *env) shutdownTask(t *testing.T, c context.Context, vmid, timeout int) error {
	t.Helper()
	upid, err := e.client.Shutdown(c, "pve1", vmid, timeout)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	return err
}

// requireTaskLeaves waits for the task upid on pve1 to end OK and checks
// that it left vmid running or not.
func (e *env) requireTaskLeaves(t *testing.T, c context.Context, upid string, vmid int, running bool) {
	t.Helper()
	st, err := e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	require.NoError(t, err)
	require.True(t, st.OK())
	vm, err := e.client.VMStatus(c, "pve1", vmid)
	require.NoError(t, err)
	require.Equal(t, running, vm.Running())
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func apiErr(t *testing.T, err error) *pve.Error {
	t.Helper()
	var e *pve.Error
	require.True(t, errors.As(err, &e), "want *pve.Error, got %T %v", err, err)
	return e
}

func TestStatusConfigVersion(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	rel, err := e.client.Version(c)
	require.NoError(t, err)
	require.Equal(t, "8.2", rel)

	st, err := e.client.VMStatus(c, "pve1", 100)
	require.NoError(t, err)
	require.True(t, st.Running())
	require.Equal(t, "running", st.QMPStatus)
	require.Equal(t, "client-42-web", st.Name)

	ha, err := e.client.VMStatus(c, "pve2", 200)
	require.NoError(t, err)
	require.True(t, ha.HAManaged)

	cfg, err := e.client.VMConfig(c, "pve1", 100)
	require.NoError(t, err)
	require.Equal(t, "client-42-web", cfg.Name)
	require.Equal(t, "6f1c2a40-1b1b-4c1e-9a57-0c1d2e3f4a5b", cfg.UUID())
	require.Contains(t, cfg.Tags, "service-4242")

	prot, err := e.client.VMConfig(c, "pve1", 102)
	require.NoError(t, err)
	require.True(t, prot.Protection)

	_, err = e.client.VMStatus(c, "pve1", 999)
	require.True(t, pve.IsMissingVM(err), "%v", err)
	ae := apiErr(t, err)
	require.Equal(t, 500, ae.Status)
	require.Contains(t, ae.Message, "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist")
	require.False(t, pve.IsTransient(err))
}

func TestGracefulShutdownAndTaskStatus(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	upid, err := e.client.Shutdown(c, "pve1", 100, 600)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(upid, "UPID:pve1:"), upid)
	e.requireTaskLeaves(t, c, upid, 100, false)
}

func TestShutdownIgnoredFailsTheTaskWithReason(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	err := e.shutdownTask(t, c, 101, 2)
	var te *pve.TaskError
	require.True(t, errors.As(err, &te), "a failed task must be an error (go-proxmox's Task.Wait returns nil): %v", err)
	require.Contains(t, te.ExitStatus, "got timeout")
	vm, _ := e.client.VMStatus(c, "pve1", 101)
	require.True(t, vm.Running())
}

// stopAfterPendingShutdown force-stops VM 101 on a PVE of the given version
// while a shutdown task is still pending, and checks that the stop task
// succeeds and the VM is stopped.
func stopAfterPendingShutdown(t *testing.T, version string) (overruled bool, sim *pvesim.Sim) {
	t.Helper()
	e := start(t, version, false, nil)
	c := ctx(t)
	shut, err := e.client.Shutdown(c, "pve1", 101, 60)
	require.NoError(t, err)
	upid, overruled, err := e.client.Stop(c, "pve1", 101, shut)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	require.NoError(t, err)
	vm, _ := e.client.VMStatus(c, "pve1", 101)
	require.False(t, vm.Running())
	return overruled, e.sim
}

func TestStopOverrulesPendingShutdownOnPVE8(t *testing.T) {
	overruled, sim := stopAfterPendingShutdown(t, "8.2")
	require.True(t, overruled)
	require.Equal(t, 1, countParam(sim, "overrule-shutdown"))
}

func TestStopFallsBackOnPVE7(t *testing.T) {
	overruled, sim := stopAfterPendingShutdown(t, "7.4")
	require.False(t, overruled)
	// /version said 7.4, so the parameter was never sent.
	require.Equal(t, 0, countParam(sim, "overrule-shutdown"))
}

func TestStopFallsBackWhenVersionUnreadable(t *testing.T) {
	e := start(t, "7.4", false, nil)
	c := ctx(t)
	e.sim.SetFault(pvesim.Fault{Route: "/version", Kind: pvesim.FaultHTTPError, Status: 500, Message: "boom"})
	upid, overruled, err := e.client.Stop(c, "pve1", 100)
	require.NoError(t, err, "a failed version read must never break the force stop")
	require.False(t, overruled)
	require.NotEmpty(t, upid)
}

func countParam(sim *pvesim.Sim, name string) int {
	n := 0
	for _, r := range sim.Requests() {
		if _, ok := r.Params[name]; ok && r.Status < 400 {
			n++
		}
	}
	return n
}

func TestBackupsListedOncePerVolidAndDeleted(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	storages, err := e.client.BackupStorages(c, "pve1")
	require.NoError(t, err)
	var names []string
	for _, s := range storages {
		names = append(names, s.Storage)
	}
	require.ElementsMatch(t, []string{"local", "nfs-backup", "pbs"}, names)
	seen := map[string]bool{}
	for _, s := range storages {
		bs, err := e.client.Backups(c, "pve1", s.Storage, 100)
		require.NoError(t, err)
		for _, b := range bs {
			require.False(t, seen[b.VolID], "volid listed twice: %s", b.VolID)
			seen[b.VolID] = true
			upid, err := e.client.DeleteVolume(c, "pve1", s.Storage, b.VolID)
			require.NoError(t, err)
			if upid != "" {
				_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
				require.NoError(t, err)
			}
		}
	}
	require.Len(t, seen, 3)
	require.Empty(t, e.sim.Backups(100))
}

func TestProtectedBackupCannotBeDeleted(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	bs, err := e.client.Backups(c, "pve1", "nfs-backup", 101)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.True(t, bs[0].Protected)
	upid, err := e.client.DeleteVolume(c, "pve1", "nfs-backup", bs[0].VolID)
	if err == nil && upid != "" {
		_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	}
	require.Error(t, err)
	require.Contains(t, e.sim.Backups(101), bs[0].VolID)
}

func TestDeleteVMRefusalsKeepProxmoxReason(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	_, err := e.client.DeleteVM(c, "pve1", 100)
	ae := apiErr(t, err)
	require.Equal(t, 500, ae.Status)
	require.Equal(t, "VM 100 is running - destroy failed", ae.Message)
	require.Equal(t, "running", ae.Class())
	require.False(t, ae.Transient())

	_, err = e.client.DeleteVM(c, "pve1", 102)
	require.Contains(t, apiErr(t, err).Message, "can't remove VM 102 - protection mode enabled")

	_, err = e.client.DeleteVM(c, "pve1", 999)
	require.True(t, pve.IsMissingVM(err))

	upid, err := e.client.DeleteVM(c, "pve2", 203)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve2", upid, 20*time.Millisecond, nil)
	var te *pve.TaskError
	require.True(t, errors.As(err, &te), "%v", err)
	require.Equal(t, "VM is locked (backup)", te.ExitStatus)
	require.Equal(t, pve.ClassLocked, pve.ClassOf(err))
}

func TestDeleteStoppedVMAndConfirmGone(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	vm, found, err := e.client.FindVM(c, 102)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "pve1", vm.Node)
	require.NoError(t, e.sim.UpdateVM(102, func(s *pvesim.VMSpec) { s.Protection = false }))
	upid, err := e.client.DeleteVM(c, "pve1", 102)
	require.NoError(t, err)
	st, err := e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	require.NoError(t, err)
	require.True(t, st.OK())
	_, found, err = e.client.FindVM(c, 102)
	require.NoError(t, err)
	require.False(t, found)
	// The request carried purge=1 as "1", never "true".
	var saw bool
	for _, r := range e.sim.Requests() {
		if r.Method == "DELETE" && r.Route == "/nodes/{node}/qemu/{vmid}" {
			require.Equal(t, "1", r.Params.Get("purge"))
			saw = true
		}
	}
	require.True(t, saw)
}

func TestErrorClasses(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)

	_, err := e.client.VMStatus(c, "pve3", 300)
	ae := apiErr(t, err)
	require.Equal(t, 595, ae.Status, "go-proxmox hides 595; we must not")
	require.True(t, ae.Transient())
	require.Equal(t, "node_unreachable", ae.Class())

	e.sim.SetFault(pvesim.Fault{Kind: pvesim.FaultTokenExpired, Count: 1})
	_, err = e.client.VMStatus(c, "pve1", 100)
	ae = apiErr(t, err)
	require.Equal(t, 401, ae.Status)
	require.Equal(t, "auth", ae.Class())
	require.False(t, ae.Transient())
	require.NotContains(t, err.Error(), secret)

	e.sim.SetFault(pvesim.Fault{Kind: pvesim.FaultLockTimeout, Route: "/nodes/{node}/qemu/{vmid}", Method: "DELETE", Count: 1})
	// qemu-server takes the config lock inside the destroy worker: the
	// timeout ends the task, not the request.
	upid, err := e.client.DeleteVM(c, "pve2", 203)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve2", upid, 20*time.Millisecond, nil)
	require.True(t, pve.IsLockTimeout(err), "%v", err)
	require.True(t, pve.IsTransient(err))

	e.sim.SetFault(pvesim.Fault{Kind: pvesim.FaultHTTPError, Status: 403, Message: "Permission check failed (/vms/100, VM.PowerMgmt)", Count: 1})
	_, err = e.client.Shutdown(c, "pve1", 100, 0)
	ae = apiErr(t, err)
	require.Equal(t, 403, ae.Status, "401 and 403 must stay apart")
	require.Contains(t, ae.Message, "Permission check failed")
}

func TestConnectionErrorIsTransient(t *testing.T) {
	cl, err := pve.New(pve.Config{Name: "dead", URL: "http://127.0.0.1:1", TokenID: tokenID, TokenSecret: secret, Timeout: time.Second}, nil)
	require.NoError(t, err)
	_, err = cl.VMStatus(ctx(t), "pve1", 100)
	ae := apiErr(t, err)
	require.Equal(t, 0, ae.Status)
	require.True(t, ae.Transient())
	require.NotContains(t, err.Error(), secret)
}

func TestTLSFingerprintPinning(t *testing.T) {
	e := start(t, "8.2", true, nil)
	_, err := e.client.Version(ctx(t))
	require.NoError(t, err, "pinned fingerprint must verify the self-signed certificate")

	u, _ := url.Parse(e.sim.CertFingerprintSHA256())
	_ = u
	bad := start(t, "8.2", true, func(c *pve.Config) {
		c.Fingerprint = strings.Repeat("AB:", 31) + "AB"
	})
	_, err = bad.client.Version(ctx(t))
	require.ErrorContains(t, err, "fingerprint mismatch")

	unpinned := start(t, "8.2", true, func(c *pve.Config) { c.Fingerprint = "" })
	_, err = unpinned.client.Version(ctx(t))
	require.Error(t, err, "TLS is verified by default")
	require.ErrorContains(t, err, "certificate")

	insecure := start(t, "8.2", true, func(c *pve.Config) { c.Fingerprint = ""; c.Insecure = true })
	_, err = insecure.client.Version(ctx(t))
	require.NoError(t, err)
}

func TestConfigValidation(t *testing.T) {
	good := pve.Config{Name: "a", URL: "https://pve:8006", TokenID: "u@pam!t", TokenSecret: "s3cr3t-value"}
	require.NoError(t, good.Validate())
	for name, mod := range map[string]func(*pve.Config){
		"no name":       func(c *pve.Config) { c.Name = "" },
		"bad url":       func(c *pve.Config) { c.URL = "pve:8006" },
		"bad token id":  func(c *pve.Config) { c.TokenID = "root" },
		"no secret":     func(c *pve.Config) { c.TokenSecret = "" },
		"empty env":     func(c *pve.Config) { c.TokenSecret = ""; c.TokenSecretEnv = "PT_TEST_UNSET_VAR" },
		"bad pin":       func(c *pve.Config) { c.Fingerprint = "zz" },
		"insecure+pin":  func(c *pve.Config) { c.Insecure = true; c.Fingerprint = strings.Repeat("AB:", 31) + "AB" },
		"negative time": func(c *pve.Config) { c.Timeout = -1 },
	} {
		c := good
		mod(&c)
		err := c.Validate()
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), "s3cr3t-value", name)
	}
}

func TestModuleLogObserverSeesEveryCall(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	_, _ = e.client.VMStatus(c, "pve1", 100)
	_, _ = e.client.DeleteVM(c, "pve1", 100)
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Len(t, e.calls, 2)
	require.Equal(t, "GET", e.calls[0].Method)
	require.Equal(t, "/nodes/pve1/qemu/100/status/current", e.calls[0].Path)
	require.Equal(t, 200, e.calls[0].Status)
	require.Equal(t, "DELETE", e.calls[1].Method)
	require.Contains(t, e.calls[1].Path, "purge=1")
	require.Equal(t, 500, e.calls[1].Status)
	require.Contains(t, e.calls[1].Err, "is running - destroy failed")
}

// Destroys and state changes have separate budgets: with every destroy slot
// of a node taken, shutdown and stop requests still go out at once; a
// further destroy waits in line, reporting while it waits.
func TestNodeConcurrencyLimit(t *testing.T) {
	e := start(t, "8.2", false, func(c *pve.Config) { c.NodeConcurrency = 2; c.WaitTick = 10 * time.Millisecond })
	c := ctx(t)
	r1, err := e.client.AcquireNode(c, "pve1", nil)
	require.NoError(t, err)
	r2, err := e.client.AcquireNode(c, "pve1", nil)
	require.NoError(t, err)
	// Another node has its own slots.
	r3, err := e.client.AcquireNode(c, "pve2", nil)
	require.NoError(t, err)
	r3()
	// pve1's destroy slots are full: a shutdown and a stop do not wait for them.
	_, err = e.client.Shutdown(c, "pve1", 100, 60)
	require.NoError(t, err)
	_, _, err = e.client.Stop(c, "pve1", 101)
	require.NoError(t, err)
	// A third destroy waits, and says so while it waits.
	waits := 0
	short, cancel := context.WithTimeout(c, 200*time.Millisecond)
	_, err = e.client.AcquireNode(short, "pve1", func() { waits++ })
	cancel()
	require.ErrorContains(t, err, "wait for a free slot on node pve1")
	require.Positive(t, waits)
	r1()
	r4, err := e.client.AcquireNode(c, "pve1", nil)
	require.NoError(t, err)
	r4()
	r2()
	r1() // releasing twice frees one slot only
}

// A shutdown or stop of a VM whose config is gone returns a UPID; the task
// fails with assert_config_exists_on_node's text, which counts as a missing
// VM. A paused VM is listed "paused" cluster-wide and still counts as
// running on status/current.
func TestMissingConfigAndPausedVM(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	err := e.shutdownTask(t, c, 150, 0)
	require.ErrorContains(t, err, "unable to find configuration file for VM 150 on node 'pve1'")
	require.True(t, pve.IsMissingVM(err), "%v", err)
	require.Equal(t, pve.ClassNotFound, pve.ClassOf(err))
	upid, _, err := e.client.Stop(c, "pve1", 150)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	require.True(t, pve.IsMissingVM(err), "%v", err)

	vm, found, err := e.client.FindVM(c, 201)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "paused", vm.Status)
	st, err := e.client.VMStatus(c, "pve2", 201)
	require.NoError(t, err)
	require.True(t, st.Running())
	require.Equal(t, "paused", st.QMPStatus)
}

// A shutdown waiting for the node's state-change slot calls the
// WithQueueWait hook every WaitTick and sends nothing until the slot frees.
func TestQueuedShutdownReportsWhileWaiting(t *testing.T) {
	inflight, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	sent := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent[r.URL.Path]++
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/qemu/100/status/shutdown") {
			close(inflight)
			<-release
		}
		_, _ = w.Write([]byte(`{"data":"UPID:pve1:00000001:00000001:00000001:qmshutdown:1:root@pam:"}`))
	}))
	defer srv.Close()
	c, err := pve.New(pve.Config{Name: "x", URL: srv.URL, TokenID: tokenID, TokenSecret: secret, NodeConcurrency: 1, WaitTick: 5 * time.Millisecond}, nil)
	require.NoError(t, err)
	first := make(chan error)
	go func() { _, err := c.Shutdown(ctx(t), "pve1", 100, 0); first <- err }()
	<-inflight
	var waits atomic.Int32
	second := make(chan error)
	go func() {
		_, err := c.Shutdown(pve.WithQueueWait(ctx(t), func() { waits.Add(1) }), "pve1", 101, 0)
		second <- err
	}()
	require.Eventually(t, func() bool { return waits.Load() >= 3 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	require.Zero(t, sent["/api2/json/nodes/pve1/qemu/101/status/shutdown"], "nothing is sent while waiting")
	mu.Unlock()
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, <-second)
	mu.Lock()
	require.Equal(t, 1, sent["/api2/json/nodes/pve1/qemu/101/status/shutdown"])
	mu.Unlock()
}

func TestStartPowersAStoppedVMOnAndRefusesARunningOne(t *testing.T) {
	e := start(t, "8.2", false, nil)
	c := ctx(t)
	upid, err := e.client.Shutdown(c, "pve1", 100, 600)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	require.NoError(t, err)

	upid, err = e.client.Start(c, "pve1", 100)
	require.NoError(t, err)
	require.Contains(t, upid, ":qmstart:100:")
	e.requireTaskLeaves(t, c, upid, 100, true)

	upid, err = e.client.Start(c, "pve1", 100)
	require.NoError(t, err)
	_, err = e.client.WaitTask(c, "pve1", upid, 20*time.Millisecond, nil)
	var te *pve.TaskError
	require.True(t, errors.As(err, &te), "%v", err)
	require.Contains(t, te.ExitStatus, "already running")
}
