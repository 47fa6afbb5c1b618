package whmcs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// Products of the addon's tests, by provisioning module.
const (
	productPVEWHMCS = 1 // pvewhmcs: handed off when configured
	productOther    = 2 // cpanel: never handed off
	adminAllowed    = 1 // role 1, granted the addon
	adminOther      = 2 // role 2, not granted
)

var (
	addonDir     = filepath.Join("modules", "addons", "proxmoxterminate")
	addonHarness = filepath.Join("testdata", "addon_harness.php")
)

// whmcs is the real stack with the WHMCS tables the addon needs, the addon
// configured and active, as the shim sees it.
type whmcs struct {
	realStack
	bin     string
	shimEnv []string // what the shim reads, added to the environment
	env     []string
	calls   string // what the stand-in pvewhmcs module records
}

func newWHMCS(t testing.TB, settings map[string]string) whmcs {
	t.Helper()
	return newWHMCSOn(t, newStack(t), settings)
}

// newWHMCSOn is newWHMCS on a given stack.
func newWHMCSOn(t testing.TB, rs realStack, settings map[string]string) whmcs {
	t.Helper()
	if out, err := exec.Command(php(t), "-m").Output(); err != nil || !strings.Contains(string(out), "\npdo_mysql\n") {
		t.Fatal("PHP has no pdo_mysql: apt-get install -y php-mysql (the WHMCS shim reads the test database through PDO)")
	}
	w := whmcs{realStack: rs, bin: testenv.Binary(t, "starter")}
	db := w.store.DB()
	require.NoError(t, whmcsschema.CreateAddonTables(db))
	require.NoError(t, whmcsschema.InsertProduct(db, productPVEWHMCS, "VPS (Proxmox VE for WHMCS)", "pvewhmcs"))
	require.NoError(t, whmcsschema.InsertProduct(db, productOther, "Shared hosting", "cpanel"))
	require.NoError(t, whmcsschema.InsertAdmin(db, adminAllowed, 1, "allowed"))
	require.NoError(t, whmcsschema.InsertAdmin(db, adminOther, 2, "other"))
	all := map[string]string{
		"modules": "pvewhmcs, puqProxmoxKVM", "starter": w.bin, "config": w.st.ConfigPath, "timeout": "20",
		"envfile": "", "webui": "http://127.0.0.1:8233/namespaces/default/workflows", "todo": "on", "access": "1",
		"version": "1.0",
	}
	for k, v := range settings {
		all[k] = v
	}
	require.NoError(t, whmcsschema.SetAddonSettings(db, "proxmoxterminate", all))

	dsn, err := mysql.ParseDSN(w.store.Config().DSN)
	require.NoError(t, err)
	abs, err := filepath.Abs(addonDir)
	require.NoError(t, err)
	mods, err := filepath.Abs(filepath.Join("testdata", "modules"))
	require.NoError(t, err)
	w.calls = filepath.Join(t.TempDir(), "module-calls")
	w.shimEnv = append([]string(nil),
		"SHIM_DSN=mysql:host="+strings.Split(dsn.Addr, ":")[0]+";port="+portOf(dsn.Addr)+";dbname="+dsn.DBName+";charset=utf8mb4",
		"SHIM_USER="+dsn.User, "SHIM_ADDON="+abs, "SHIM_MODULES="+mods, "SHIM_CALLS="+w.calls)
	w.env = append(os.Environ(), w.shimEnv...)
	return w
}

func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i+1:]
	}
	return "3306"
}

// event runs one WHMCS event through the shim and decodes its JSON.
func (w whmcs) event(t testing.TB, out any, args ...string) {
	t.Helper()
	runPHP(t, w.env, out, append([]string{addonHarness}, args...)...)
}

// service seeds a service of the product with a running VM on the simulator.
func (w whmcs) service(t *testing.T, product int, status string) (id, vmid int) {
	t.Helper()
	id = stack.NextID()
	vmid = 1000 + id%8000
	fqdn := fmt.Sprintf("%d-addon.example.com", id)
	require.NoError(t, stack.AddVMWithBackups(w.st.Sim, "pve1", vmid, fqdn, 300*time.Millisecond))
	require.NoError(t, stack.Seed(context.Background(), w.store, stack.Service{
		ID: id, UserID: id + 500000, Domain: fqdn, DedicatedIP: "192.0.2.80", VMID: vmid, Node: "pve1", VMName: fqdn, VMStatus: status,
	}))
	require.NoError(t, w.store.DB().Exec("UPDATE tblhosting SET packageid = ? WHERE id = ?", product, id).Error)
	return id, vmid
}

func (w whmcs) domainStatus(t *testing.T, id int) string {
	t.Helper()
	var s string
	require.NoError(t, w.store.DB().Raw("SELECT domainstatus FROM tblhosting WHERE id = ?", id).Scan(&s).Error)
	return s
}

func (w whmcs) activity(t *testing.T, id int) []string {
	t.Helper()
	var rows []string
	require.NoError(t, w.store.DB().Raw("SELECT description FROM tblactivitylog WHERE description LIKE ? ORDER BY id",
		"proxmox-terminate: service #"+strconv.Itoa(id)+":%").Scan(&rows).Error)
	return rows
}

func (w whmcs) moduleCalls(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(w.calls)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

type terminateEvent struct {
	Result      string `json:"result"`
	ModuleCalls []struct {
		Module    string `json:"module"`
		Action    string `json:"action"`
		Processed string `json:"processed"`
	} `json:"module_calls"`
}

// The hand-off: the product's module (pvewhmcs) never runs; the starter
// queues the run, the service is Terminated, and the run removes the VM.
func TestHandoffRunsTheStarterInsteadOfTheModule(t *testing.T) {
	w := newWHMCS(t, nil)
	id, vmid := w.service(t, productPVEWHMCS, "ready")

	var ev terminateEvent
	w.event(t, &ev, "terminate", strconv.Itoa(id))
	require.Equal(t, "Function Aborted by Action Hook Code", ev.Result, "WHMCS reports the abort that keeps pvewhmcs's terminate from running")
	require.Empty(t, w.moduleCalls(t), "pvewhmcs_TerminateAccount must never run for a handed-off service")
	require.Equal(t, "Terminated", w.domainStatus(t, id))
	log := w.activity(t, id)
	require.Len(t, log, 1)
	require.Contains(t, log[0], "termination queued (hand-off from pvewhmcs); the service is Terminated")
	require.Len(t, ev.ModuleCalls, 1)
	require.Equal(t, "success", ev.ModuleCalls[0].Processed)
	require.Equal(t, "TerminateAccount (hand-off from pvewhmcs)", ev.ModuleCalls[0].Action)

	require.Eventually(t, func() bool { return !w.st.Sim.VMExists(vmid) }, 90*time.Second, 200*time.Millisecond)
	require.Eventually(t, func() bool {
		svc, err := w.store.LoadService(context.Background(), id)
		return err == nil && svc.VM.VMStatus == dbmodel.StatusRemove
	}, 30*time.Second, 200*time.Millisecond)

	// The service page's panel shows the hand-off and the run's live lines.
	html := w.panel(t, id, adminAllowed)
	require.Contains(t, html, `data-status="remove"`)
	require.Contains(t, html, "termination queued (hand-off from pvewhmcs)")
	require.Contains(t, html, `<pre class="pt-lines">`)
	require.Contains(t, html, fmt.Sprintf("DELETE VM vmid=%d", vmid))
	require.NotContains(t, html, "Retry", "actions only on error_terminate")

	// The Log modal has the attempt, its lines included.
	var logBody struct {
		HTML string `json:"html"`
	}
	w.event(t, &logBody, "log", strconv.Itoa(id))
	require.Contains(t, logBody.HTML, "Attempt 1 · success · phase ")
	require.Contains(t, logBody.HTML, fmt.Sprintf("DELETE VM vmid=%d", vmid))
	require.NotContains(t, logBody.HTML, "pt-banner-error")
}

// The starter refuses (here: the service has no VM row): the service stays
// Active, pvewhmcs's terminate still does not run, and the starter's error
// line is in the Activity Log.
func TestHandoffErrorLeavesTheServiceAsItWas(t *testing.T) {
	w := newWHMCS(t, nil)
	id := stack.NextID()
	require.NoError(t, whmcsschema.InsertService(w.store.DB(), whmcsschema.Service{ID: id, UserID: id + 500000, Domain: "novm.example.com"}))
	require.NoError(t, w.store.DB().Exec("UPDATE tblhosting SET packageid = ? WHERE id = ?", productPVEWHMCS, id).Error)

	var ev terminateEvent
	w.event(t, &ev, "terminate", strconv.Itoa(id))
	require.Equal(t, "Function Aborted by Action Hook Code", ev.Result)
	require.Empty(t, w.moduleCalls(t))
	require.Equal(t, "Active", w.domainStatus(t, id))
	log := w.activity(t, id)
	require.Len(t, log, 1)
	require.Contains(t, log[0], "hand-off from pvewhmcs failed: error: ")
	require.Contains(t, log[0], "Nothing was changed and pvewhmcs's own terminate did not run.")
	_, ok, err := w.store.OwnRow(context.Background(), id)
	require.NoError(t, err)
	require.False(t, ok, "nothing was written for the service")
}

// Products whose module is not configured are left to their module.
func TestProductsOfOtherModulesAreLeftAlone(t *testing.T) {
	w := newWHMCS(t, map[string]string{"modules": "puqProxmoxKVM"})
	id, vmid := w.service(t, productPVEWHMCS, "ready")

	var ev terminateEvent
	w.event(t, &ev, "terminate", strconv.Itoa(id))
	require.Equal(t, "success", ev.Result, "pvewhmcs's own terminate ran and succeeded")
	require.Equal(t, fmt.Sprintf("pvewhmcs_TerminateAccount %d\n", id), w.moduleCalls(t))
	require.Equal(t, "Terminated", w.domainStatus(t, id))
	require.Empty(t, w.activity(t, id))
	require.Empty(t, ev.ModuleCalls, "the starter was not run")
	svc, err := w.store.LoadService(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, "ready", svc.VM.VMStatus)
	require.True(t, w.st.Sim.VMExists(vmid))
}

func (w whmcs) failAttempt(t *testing.T, id, attempt int, lastError string) {
	t.Helper()
	require.NoError(t, w.store.DB().Exec("UPDATE "+w.store.Config().VMTable+" SET vm_status = 'error_terminate', terminate_attempts = ?, last_error = ? WHERE service_id = ?",
		attempt, lastError, id).Error)
}

func (w whmcs) todos(t *testing.T) []string {
	t.Helper()
	var rows []string
	require.NoError(t, w.store.DB().Raw("SELECT title FROM tbltodolist ORDER BY id").Scan(&rows).Error)
	return rows
}

// One To-Do item per failed attempt: a second cron run adds nothing, a new
// failed attempt adds one.
func TestTodoItemOncePerFailedAttempt(t *testing.T) {
	w := newWHMCS(t, nil)
	id, _ := w.service(t, productPVEWHMCS, "ready")
	w.failAttempt(t, id, 1, "DELETE refused: VM is locked (backup)")

	var none struct{}
	w.event(t, &none, "cron")
	w.event(t, &none, "cron")
	want := fmt.Sprintf("proxmox-terminate: service #%d termination failed (attempt 1)", id)
	require.Equal(t, []string{want}, w.todos(t))
	var desc string
	require.NoError(t, w.store.DB().Raw("SELECT description FROM tbltodolist").Scan(&desc).Error)
	require.Contains(t, desc, "DELETE refused: VM is locked (backup)")

	w.failAttempt(t, id, 2, "DELETE refused again")
	w.event(t, &none, "cron")
	require.Equal(t, []string{want, fmt.Sprintf("proxmox-terminate: service #%d termination failed (attempt 2)", id)}, w.todos(t))

	// Switched off, the check adds nothing.
	require.NoError(t, w.store.DB().Exec("UPDATE tbladdonmodules SET value = '' WHERE module = 'proxmoxterminate' AND setting = 'todo'").Error)
	w.failAttempt(t, id, 3, "and again")
	w.event(t, &none, "cron")
	require.Len(t, w.todos(t), 2)
}

type panelEvent struct {
	Fields []map[string]string `json:"fields"`
}

// panel renders the service page's panel of service id for admin: its
// HTML, or "" when the hook adds no panel.
func (w whmcs) panel(t *testing.T, id, admin int) string {
	t.Helper()
	var ev panelEvent
	w.event(t, &ev, "panel", strconv.Itoa(id), strconv.Itoa(admin))
	if len(ev.Fields) == 0 {
		return ""
	}
	require.Len(t, ev.Fields, 1)
	return ev.Fields[0]["Proxmox termination"]
}

// The service page's panel: state and the error_terminate actions, for a
// granted admin and a handed-off product only, with everything escaped.
func TestServicePanel(t *testing.T) {
	w := newWHMCS(t, nil)
	id, _ := w.service(t, productPVEWHMCS, "ready")
	w.failAttempt(t, id, 1, `node pve1 unreachable <script>alert("x")</script>`)

	html := w.panel(t, id, adminAllowed)
	require.Contains(t, html, `data-status="error_terminate"`)
	require.Contains(t, html, "attempt 1")
	require.Contains(t, html, `&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;`)
	require.NotContains(t, html, `<script>alert`)
	for _, b := range []string{">Retry<", ">Mark removed<", ">Delete record<"} {
		require.Contains(t, html, b)
	}
	require.Contains(t, html, `fields.token=`, "the actions carry the CSRF token")

	// An admin whose role is not granted the addon sees no panel.
	require.Empty(t, w.panel(t, id, adminOther))

	// A service of a product that is not handed off gets no panel.
	other, _ := w.service(t, productOther, "ready")
	require.Empty(t, w.panel(t, other, adminAllowed))
}

// A real failure end to end: a protected VM is handed off, the run ends in
// error_terminate (Proxmox would refuse the DELETE), and the next cron run
// adds one To-Do item; the Log modal shows the failure in a red banner.
func TestHandedOffRunThatFailsBecomesATodoItem(t *testing.T) {
	w := newWHMCS(t, nil)
	id := stack.NextID()
	vmid := 1000 + id%8000
	fqdn := fmt.Sprintf("%d-protected.example.com", id)
	spec := stack.RunningVM("pve1", vmid, fqdn, 300*time.Millisecond)
	spec.Protection = true
	require.NoError(t, stack.AddVMSpecWithBackups(w.st.Sim, spec))
	require.NoError(t, stack.Seed(context.Background(), w.store, stack.Service{
		ID: id, UserID: id + 500000, Domain: fqdn, DedicatedIP: "192.0.2.81", VMID: vmid, Node: "pve1", VMName: fqdn,
	}))
	require.NoError(t, w.store.DB().Exec("UPDATE tblhosting SET packageid = ? WHERE id = ?", productPVEWHMCS, id).Error)

	var ev terminateEvent
	w.event(t, &ev, "terminate", strconv.Itoa(id))
	require.Empty(t, w.moduleCalls(t))
	log := w.activity(t, id)
	require.Len(t, log, 1, "the hand-off's entry")
	if strings.Contains(log[0], "failed") {
		t.Fatalf("the click refused the protected VM; this test wants the run's refusal: %s", log[0])
	}
	require.Eventually(t, func() bool { return w.vmStatus(t, id) == dbmodel.StatusErrorTerminate }, 90*time.Second, 200*time.Millisecond)
	require.True(t, w.st.Sim.VMExists(vmid), "nothing destroyed for a DELETE Proxmox refuses")

	var none struct{}
	w.event(t, &none, "cron")
	w.event(t, &none, "cron")
	require.Equal(t, []string{fmt.Sprintf("proxmox-terminate: service #%d termination failed (attempt 1)", id)}, w.todos(t))

	var logBody struct {
		HTML string `json:"html"`
	}
	w.event(t, &logBody, "log", strconv.Itoa(id))
	require.Contains(t, logBody.HTML, `class="pt-banner pt-banner-error"`)
	require.Contains(t, logBody.HTML, "Attempt 1 failed: ")
	require.Contains(t, logBody.HTML, "protection")
}

// During the undo window the service panel and VM Management show the
// deadline and a Restore button; Restore, posted with the session's token,
// starts the VM again and puts vm_status back to ready.
func TestRestoreButtonDuringTheUndoWindow(t *testing.T) {
	tm := stack.FastTiming()
	tm.DestroyDelay = time.Hour
	w := newWHMCSOn(t, newStackTiming(t, tm), nil)
	id, vmid := w.service(t, productPVEWHMCS, "ready")
	out, err := exec.Command(w.bin, "terminate", "--service-id", strconv.Itoa(id), "--config", w.st.ConfigPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Eventually(t, func() bool { return w.vmStatus(t, id) == "grace" }, 30*time.Second, 50*time.Millisecond)

	var ev panelEvent
	w.event(t, &ev, "panel", strconv.Itoa(id), strconv.Itoa(adminAllowed))
	require.Len(t, ev.Fields, 1)
	html := ev.Fields[0]["Proxmox termination"]
	require.Contains(t, html, `data-status="grace"`)
	require.Contains(t, html, "Undo window until ")
	require.Contains(t, html, ">Restore<")
	require.NotContains(t, html, ">Retry<")

	var page struct {
		HTML string `json:"html"`
	}
	w.event(t, &page, "page", strconv.Itoa(adminAllowed), "module=proxmoxterminate&status=grace")
	require.Contains(t, page.HTML, `<tr data-service="`+strconv.Itoa(id)+`"`)
	require.Contains(t, page.HTML, `class="pt-grace-until">until `)
	require.Contains(t, page.HTML, ">Restore<")

	w.event(t, &page, "post", strconv.Itoa(adminAllowed), "action=restore&service="+strconv.Itoa(id))
	require.Contains(t, page.HTML, "Service #"+strconv.Itoa(id)+" restored: its VM runs again; set the service back to Active: vm_status=ready")
	require.Equal(t, "ready", w.vmStatus(t, id))
	vm, ok := w.st.Sim.VM("pve1", vmid)
	require.True(t, ok)
	require.Equal(t, "running", vm.Status)

	// The window is over: a second Restore is refused with the starter's line.
	w.event(t, &page, "post", strconv.Itoa(adminAllowed), "action=restore&service="+strconv.Itoa(id))
	require.Contains(t, page.HTML, "no termination run is open (vm_status=ready)")
	require.Equal(t, "ready", w.vmStatus(t, id))
}
