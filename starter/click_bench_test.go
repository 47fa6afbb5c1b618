package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// clicksPerOp is the number of clicks one op of BenchmarkTerminateClick
// runs, one after another: enough for a p99 from a default `-bench` run.
const clicksPerOp = 50

// BenchmarkTerminateClick measures the billing panel's click as it runs
// it: the starter binary, built once per test binary as an operator builds it, exec'd for
// `terminate --service-id N` on a service of its own (a first click: it
// reads the rows, checks the VM's identity, sets vm_status, starts the run
// and sends the shutdown). MariaDB and the Temporal dev server are local;
// the simulator answers the shutdown after 50 ms and every other Proxmox
// call after 10 ms. No worker runs, so the runs stay open and the clicks
// share the machine with nothing else of ours.
//
// One op is clicksPerOp clicks in series. Reported per click: cpu-ms
// (user+sys of the process, from its rusage), the wall time's p50-ms and
// p99-ms (nearest rank over every click of the run) and mean-ms.
//
//	TEMPORAL_CLI=… go test -run '^$' -bench TerminateClick ./starter/
func BenchmarkTerminateClick(b *testing.B) {
	bin := testenv.Binary(b, "starter")
	store, dbcfg := testenv.NewDatabase(b)
	dev := testenv.DevServer(b)
	st, err := stack.Start(stack.Options{Dir: b.TempDir(), DB: dbcfg, TemporalHost: dev.FrontendHostPort(),
		TaskQueue: fmt.Sprintf("click-bench-%d", stack.NextID()), Fixture: stack.Cluster(), NoWorker: true})
	require.NoError(b, err)
	b.Cleanup(st.Stop)
	// The first matching fault applies: the shutdown's latency, then every other call's.
	st.Sim.SetFault(pvesim.Fault{Kind: pvesim.FaultLatency, Method: "POST", Route: shutdownRoute, Delay: 50 * time.Millisecond})
	st.Sim.SetFault(pvesim.Fault{Kind: pvesim.FaultLatency, Delay: 10 * time.Millisecond})

	var ids []int
	b.Cleanup(func() {
		for _, id := range ids {
			_ = dev.Client().TerminateWorkflow(context.Background(), pipeline.WorkflowID(id), "", "benchmark over")
		}
	})
	seed := func(n int) []stack.VM {
		vms := make([]stack.VM, n)
		for i := range vms {
			v := stack.NewVM(stack.NextID())
			require.NoError(b, st.Sim.AddVM(stack.RunningVM("pve1", v.VMID, v.FQDN, time.Minute)))
			require.NoError(b, stack.Seed(context.Background(), store, stack.Service{ID: v.ID, UserID: v.UserID,
				Domain: v.FQDN, DedicatedIP: v.IP4, VMID: v.VMID, Node: "pve1", VMName: v.FQDN}))
			ids = append(ids, v.ID)
			vms[i] = v
		}
		return vms
	}
	click := func(v stack.VM) (wall, cpu time.Duration) {
		cmd := exec.Command(bin, "terminate", "--service-id", strconv.Itoa(v.ID), "--config", st.ConfigPath)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		wall = time.Since(start)
		require.NoError(b, err, errb.String())
		require.Equal(b, "success\n", out.String(), errb.String())
		return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	for _, v := range seed(3) { // page cache, connections, the server's first start
		click(v)
	}

	var walls, cpus []float64
	for b.Loop() {
		b.StopTimer()
		vms := seed(clicksPerOp)
		b.StartTimer()
		for _, v := range vms {
			wall, cpu := click(v)
			walls = append(walls, msOf(wall))
			cpus = append(cpus, msOf(cpu))
		}
		b.StopTimer()
		for _, v := range vms {
			svc, err := store.LoadService(context.Background(), v.ID)
			require.NoError(b, err)
			require.Equal(b, dbmodel.StatusTerminate, svc.VM.VMStatus)
		}
		b.StartTimer()
	}
	b.ReportMetric(mean(cpus), "cpu-ms/click")
	b.ReportMetric(nearestRank(walls, 50), "p50-ms")
	b.ReportMetric(nearestRank(walls, 99), "p99-ms")
	b.ReportMetric(mean(walls), "mean-ms")
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// nearestRank is the p-th percentile of xs by the nearest-rank method.
func nearestRank(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}
