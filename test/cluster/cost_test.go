package cluster

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// persistenceRequests sums the server's persistence_requests counters
// (visibility_persistence_requests with visibility).
func persistenceRequests(b *testing.B, metricsAddr string, visibility bool) float64 {
	b.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		name := "persistence_requests{"
		if visibility {
			name = "visibility_" + name
		}
		if !strings.HasPrefix(l, name) {
			continue
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// BenchmarkCostPerTermination is what one clean termination costs the
// Temporal server: history events, and persistence requests (the server's
// persistence_requests counters, less the idle rate measured just before),
// on the real server (PostgreSQL) and on the dev server (SQLite); and the
// visibility store's requests (visibility_persistence_requests).
func BenchmarkCostPerTermination(b *testing.B) {
	b.Run("cluster", func(b *testing.B) {
		if server == nil {
			b.Fatalf("the benchmark reads the server's metrics: run it without %s", testenv.ExternalTemporalEnv)
		}
		costPerTermination(b, server.MetricsAddr, nil)
	})
	b.Run("dev", func(b *testing.B) {
		d, err := testenv.NewDevServerProc(testenv.DevServerOptions{Dir: b.TempDir(), NoLog: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer d.Stop(10 * time.Second)
		c, err := testenv.Dial(context.Background(), d.Addr, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		costPerTermination(b, d.MetricsAddr, &stack.Options{TemporalHost: d.Addr, Client: c})
	})
}

func costPerTermination(b *testing.B, metricsAddr string, o *stack.Options) {
	e := stack.NewEnv(b, stack.EnvOptions{NoPDNS: true})
	opts := stack.Options{}
	if o != nil {
		opts = *o
	}
	st := e.Start(opts)
	tc := opts.Client
	if tc == nil {
		tc = e.Dev.Client()
	}
	bin := testenv.Binary(b, "starter")

	idleFrom, idleStart := persistenceRequests(b, metricsAddr, false), time.Now()
	time.Sleep(5 * time.Second)
	idleRate := (persistenceRequests(b, metricsAddr, false) - idleFrom) / time.Since(idleStart).Seconds()

	var events int
	start, from, visFrom := time.Now(), persistenceRequests(b, metricsAddr, false), persistenceRequests(b, metricsAddr, true)
	for b.Loop() {
		v := e.SeedVM(100*time.Millisecond, nil)
		out, err := runStarter(bin, st.ConfigPath, "terminate", "--service-id", strconv.Itoa(v.ID))
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		for e.Row(v.ID).VM.VMStatus != dbmodel.StatusRemove {
			time.Sleep(50 * time.Millisecond)
		}
		events += historyLength(b, tc, pipeline.WorkflowID(v.ID))
	}
	elapsed := time.Since(start).Seconds()
	calls := persistenceRequests(b, metricsAddr, false) - from - idleRate*elapsed
	vis := persistenceRequests(b, metricsAddr, true) - visFrom
	b.ReportMetric(float64(events)/float64(b.N), "history-events/run")
	b.ReportMetric(calls/float64(b.N), "persistence-requests/run")
	b.ReportMetric(vis/float64(b.N), "visibility-requests/run")
	b.ReportMetric(idleRate, "idle-persistence-requests/s")
}

func runStarter(bin, cfg string, args ...string) (string, error) {
	out, err := exec.Command(bin, append(args, "--config", cfg)...).CombinedOutput()
	return string(out), err
}

func historyLength(b *testing.B, c client.Client, id string) int {
	n := 0
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}
