package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// The real worker binary serves /healthz and /metrics; after a run the
// metrics show our counters and the SDK's.
func TestWorkerBinaryHealthAndMetrics(t *testing.T) {
	dev := testenv.DevServer(t)
	_, dbcfg := testenv.NewDatabase(t)
	dir := t.TempDir()
	st, err := stack.Start(stack.Options{Dir: dir, DB: dbcfg, TemporalHost: dev.FrontendHostPort(),
		TaskQueue: fmt.Sprintf("worker-bin-%d", time.Now().UnixNano()), Fixture: stack.Cluster(), NoWorker: true})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	require.NoError(t, stack.AddVMWithBackups(st.Sim, "pve1", 4242, "metrics.example.com", 300*time.Millisecond))
	require.NoError(t, stack.Seed(context.Background(), st.Deps.Store, stack.Service{ID: 4242, UserID: 1, Domain: "metrics.example.com",
		DedicatedIP: "192.0.2.42", VMID: 4242, Node: "pve1", VMName: "metrics.example.com"}))

	bin := t.TempDir()
	workerBin := testenv.BuildBinary(t, "worker", bin)
	starterBin := testenv.BuildBinary(t, "starter", bin)
	addr := freeAddr(t)
	var out, errOut bytes.Buffer
	w := exec.Command(workerBin, "--config", st.ConfigPath, "--http-addr", addr)
	w.Stdout, w.Stderr = &out, &errOut
	require.NoError(t, w.Start())
	t.Cleanup(func() { _ = w.Process.Kill(); _ = w.Wait() })

	get := func(path string) (int, string) {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := get("/healthz"); return code == 200 }, 20*time.Second, 100*time.Millisecond, errOut.String())

	cmd := exec.Command(starterBin, "terminate", "--service-id", "4242", "--follow", "--config", st.ConfigPath)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	require.Contains(t, string(b), "result=success")
	require.Contains(t, out.String(), "[service 4242] VM deleted", "the worker prints live lines")
	require.Contains(t, errOut.String(), `"service_id":4242`, "structured logs carry the service id")
	require.Contains(t, errOut.String(), `"phase":"delete"`)

	_, m := get("/metrics")
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

func TestWorkerRefusesABadConfig(t *testing.T) {
	bin := testenv.BuildBinary(t, "worker", t.TempDir())
	cfg := t.TempDir() + "/config.yaml"
	require.NoError(t, os.WriteFile(cfg, []byte("database:\n  driver: mysql\n  dsn: x\nproxmox: []\nbogus: 1\n"), 0o600))
	b, err := exec.Command(bin, "--config", cfg).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "field bogus not found")
}
