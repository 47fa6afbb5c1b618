package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// workerBinary is the real worker binary running on a stack of its own,
// with the starter built beside it.
type workerBinary struct {
	st          *stack.Stack
	starter     string
	out, errOut *testenv.Buffer
	addr        string // /healthz and /metrics
}

func startWorkerBinary(t *testing.T, o stack.Options) workerBinary {
	t.Helper()
	dev := testenv.DevServer(t)
	_, dbcfg := testenv.NewDatabase(t)
	o.Dir, o.DB, o.TemporalHost, o.Fixture, o.NoWorker = t.TempDir(), dbcfg, dev.FrontendHostPort(), stack.Cluster(), true
	o.TaskQueue = fmt.Sprintf("worker-bin-%d", time.Now().UnixNano())
	st, err := stack.Start(o)
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	wb := workerBinary{st: st, starter: testenv.Binary(t, "starter"), out: &testenv.Buffer{}, errOut: &testenv.Buffer{}, addr: testenv.Addr(t)}
	w := &testenv.Proc{Name: "worker", Path: testenv.Binary(t, "worker"), Args: []string{"--config", st.ConfigPath, "--http-addr", wb.addr},
		Out: wb.out, Err: wb.errOut}
	require.NoError(t, w.Start())
	t.Cleanup(w.Kill)
	require.Eventually(t, func() bool { code, _ := wb.get("/healthz"); return code == 200 }, 20*time.Second, 100*time.Millisecond, wb.errOut.String())
	return wb
}

func (wb workerBinary) get(path string) (int, string) {
	res, err := http.Get("http://" + wb.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// seed adds a running VM and its rows; spec may change the VM.
func (wb workerBinary) seed(t *testing.T, id int, spec func(*pvesim.VMSpec)) {
	t.Helper()
	name := fmt.Sprintf("metrics-%d.example.com", id)
	s := stack.RunningVM("pve1", id, name, 300*time.Millisecond)
	if spec != nil {
		spec(&s)
	}
	require.NoError(t, stack.AddVMSpecWithBackups(wb.st.Sim, s))
	require.NoError(t, stack.Seed(context.Background(), wb.st.Deps.Store, stack.Service{ID: id, UserID: 1, Domain: name,
		DedicatedIP: "192.0.2.42", VMID: id, Node: "pve1", VMName: name}))
}

// terminate runs `starter terminate --follow` and returns its output.
func (wb workerBinary) terminate(t *testing.T, id int) string {
	t.Helper()
	b, _ := exec.Command(wb.starter, "terminate", "--service-id", fmt.Sprint(id), "--follow", "--config", wb.st.ConfigPath).CombinedOutput()
	return string(b)
}

// The real worker binary serves /healthz and /metrics; after a run the
// metrics show our counters and the SDK's.
func TestWorkerBinaryHealthAndMetrics(t *testing.T) {
	wb := startWorkerBinary(t, stack.Options{})
	wb.seed(t, 4242, nil)
	out := wb.terminate(t, 4242)
	require.Contains(t, out, "result=success")
	require.Contains(t, wb.out.String(), "[service 4242] VM deleted", "the worker prints live lines")
	require.Contains(t, wb.errOut.String(), `"service_id":4242`, "structured logs carry the service id")
	require.Contains(t, wb.errOut.String(), `"phase":"delete"`)

	_, m := wb.get("/metrics")
	for _, want := range []string{
		`terminate_results_total{`, `result="success"`,
		`terminate_phase_duration_seconds_bucket{`, `phase="stop"`,
		`terminate_backup_leftovers_total{`,
		`terminate_waiting_for_admin 0`,
		`terminate_modulelog_dropped_total 0`, `terminate_modulelog_queued `,
		`temporal_activity_execution_latency_seconds_bucket{`,
		`go_goroutines`,
	} {
		require.True(t, strings.Contains(m, want), "metrics lack %q", want)
	}
}

// Every query of the Grafana dashboard (deploy/grafana) names a metric the
// worker exports once it has done what the panel shows: a clean run, a
// forced stop, a refused DELETE and a re-queue row that fails.
func TestGrafanaDashboardNamesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "grafana", "proxmox-terminate.json"))
	require.NoError(t, err)
	var board struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &board))
	require.NotEmpty(t, board.Panels)

	wb := startWorkerBinary(t, stack.Options{})
	wb.seed(t, 4301, nil)
	require.Contains(t, wb.terminate(t, 4301), "result=success")
	wb.seed(t, 4302, func(s *pvesim.VMSpec) { s.IgnoreACPI = true })
	require.Contains(t, wb.terminate(t, 4302), "result=success")
	wb.seed(t, 4303, func(s *pvesim.VMSpec) { s.Protection = true })
	require.Contains(t, wb.terminate(t, 4303), "result=error")
	// A row reset to terminate whose open run no worker serves (it was
	// started on another task queue): the re-queue pass cannot query it.
	store := wb.st.Deps.Store
	require.NoError(t, stack.Seed(context.Background(), store, stack.Service{ID: 4399, UserID: 1, Domain: "orphan.example.com",
		VMID: 4399, Node: "pve1", VMName: "orphan.example.com", VMStatus: dbmodel.StatusTerminate}))
	tc, err := testenv.Dial(context.Background(), wb.st.Config.Temporal.Address, nil)
	require.NoError(t, err)
	defer tc.Close()
	orphan, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: pipeline.WorkflowID(4399), TaskQueue: "no-worker-polls-this"}, "TerminateWorkflow", 4399)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), orphan.GetID(), "", "test cleanup") })
	sched := tc.ScheduleClient().GetHandle(context.Background(), app.ScheduleID(wb.st.Config.Temporal.TaskQueue))
	require.Eventually(t, func() bool { return sched.Trigger(context.Background(), client.ScheduleTriggerOptions{}) == nil }, 20*time.Second, 200*time.Millisecond)
	t.Cleanup(func() { _ = sched.Delete(context.Background()) })

	names := regexp.MustCompile(`\b(terminate_[a-z_]+|temporal_[a-z_]+)\b`)
	var exported map[string]bool
	require.Eventually(t, func() bool {
		_, m := wb.get("/metrics")
		exported = map[string]bool{}
		for _, l := range strings.Split(m, "\n") {
			if l == "" || l[0] == '#' {
				continue
			}
			exported[strings.FieldsFunc(l, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
		}
		return exported["terminate_reconcile_failures_total"]
	}, 60*time.Second, 300*time.Millisecond, "the re-queue failure is counted: %s", wb.errOut)
	for _, p := range board.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			found := names.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, found, "%s: %s names no metric", p.Title, tg.Expr)
			for _, n := range found {
				require.True(t, exported[n], "panel %q: the worker exports no %s", p.Title, n)
			}
		}
	}
}

func TestWorkerRefusesABadConfig(t *testing.T) {
	bin := testenv.Binary(t, "worker")
	cfg := t.TempDir() + "/config.yaml"
	require.NoError(t, os.WriteFile(cfg, []byte("database:\n  driver: mysql\n  dsn: x\nproxmox: []\nbogus: 1\n"), 0o600))
	b, err := exec.Command(bin, "--config", cfg).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "field bogus not found")
}
