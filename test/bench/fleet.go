package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// fleet launches n terminations at once on a fresh worker, waits until
// every run closed, and reports what they cost and where the time went,
// and each guest's stop time (for the baseline of the same VMs).
func (r *runner) fleet(ctx context.Context, n int, singleMakespan float64, seq SequentialResult) (FleetResult, []time.Duration, error) {
	fr := FleetResult{N: n, Launch: r.o.Launch, LaunchParallel: r.o.LaunchParallel, NodeLimit: r.o.NodeLimit}
	r.o.Logf("fleet %d: seeding", n)
	svcs, err := r.seed(ctx, n, func(int) time.Duration { return r.randomStop() })
	if err != nil {
		return fr, nil, err
	}
	p, err := r.startPhase(ctx, fmt.Sprintf("n%d", n))
	if err != nil {
		return fr, nil, err
	}
	defer r.endPhase(p)
	if r.o.Launch == "direct" {
		if p.launcher, err = r.newDirectLauncher(p); err != nil {
			return fr, nil, err
		}
	}
	m, err := r.startMeters(p, n)
	if err != nil {
		return fr, nil, err
	}
	defer m.stop()

	r.o.Logf("fleet %d: launching (%s, %d at a time)", n, r.o.Launch, r.o.LaunchParallel)
	t0 := time.Now()
	clicks, runIDs, err := r.launch(ctx, p, svcs)
	fr.LaunchSpanS = round2(time.Since(t0).Seconds())
	if err != nil {
		return fr, nil, err
	}
	r.o.Logf("fleet %d: launched in %.2fs; waiting", n, fr.LaunchSpanS)
	if err := r.waitClosed(ctx, p.queue, n); err != nil {
		return fr, nil, err
	}
	m.read(r, p, &fr)
	r.countRuns(ctx, p, &fr)

	r.o.Logf("fleet %d: reading %d histories", n, n)
	hs, err := r.histories(ctx, svcs, runIDs)
	if err != nil {
		return fr, nil, err
	}
	fr.addAnalysis(r.analyze(svcs, clicks, hs), singleMakespan)
	fr.CPUSPerRun = cpuPerRun(fr.CPUSeconds, fr.Succeeded)
	mc := r.minimumCalls(svcs, clicks, hs)
	fr.PVECallsMinimum, fr.PVECallsMinimumByRoute = mc.Total, mc.ByRoute
	fr.addSequential(svcs, seq, r.o.Destroy)
	stops := make([]time.Duration, len(svcs))
	for i, s := range svcs {
		stops[i] = s.Stop
	}
	r.o.Logf("fleet %d: makespan %.2fs (%.2fx single), overhead p50 %.0f ms p99 %.0f ms, %d failed",
		n, fr.MakespanS, fr.MakespanRatio, fr.OverheadP50ms, fr.OverheadP99ms, fr.Failed)
	return fr, stops, nil
}

// launch clicks every service, at most LaunchParallel at a time, and
// returns each click's time and the run it started.
func (r *runner) launch(ctx context.Context, p *phase, svcs []svc) (clicks []time.Time, runIDs []string, err error) {
	clicks, runIDs = make([]time.Time, len(svcs)), make([]string, len(svcs))
	err = forEach(len(svcs), r.o.LaunchParallel, func(i int) (err error) {
		clicks[i] = time.Now()
		runIDs[i], err = r.click(ctx, p, svcs[i])
		return err
	})
	return clicks, runIDs, err
}

// click starts one service's termination, in-process or with the starter
// binary, and returns the run it started.
func (r *runner) click(ctx context.Context, p *phase, s svc) (string, error) {
	if p.launcher != nil {
		return p.launcher.click(ctx, s)
	}
	if _, _, err := r.clickStarter(ctx, p, s); err != nil {
		return "", err
	}
	d, err := r.e.tc.DescribeWorkflow(ctx, pipeline.WorkflowID(s.ID), "")
	if err != nil {
		return "", err
	}
	return d.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId(), nil
}

// fleetMeters are the counters read before a fleet and again after it.
type fleetMeters struct {
	n            int
	cpu          *CPUMeter
	busy0, idle0 float64
	load0        float64
	prom0        promSample
	calls0       map[string]int
	served0      [2]int // the simulator's calls on the worker's and the starter's port
	wsql0, ssql0 SQLCounts
	rssPeak      *rssWatch
	perfs        []*perfRec
}

// startMeters reads every counter and starts the samplers (tasks per node,
// the worker's threads, perf when asked for).
func (r *runner) startMeters(p *phase, n int) (*fleetMeters, error) {
	pids := map[string]int{procWorker: p.w.pid(), procTemporal: r.e.temporal.Proc.Pid(), procBench: os.Getpid(), procPDNS: r.e.pdns.pid()}
	if ps := FindProcs("mariadbd", 0); len(ps) > 0 {
		pids[procMariaDB] = ps[0]
	}
	m := &fleetMeters{n: n, cpu: NewCPUMeter(pids)}
	m.busy0, m.idle0 = machineCPU()
	m.prom0, _ = scrapeTemporal(r.e.metricsAddr)
	m.load0 = loadAvg1()
	m.calls0 = r.e.sim.Calls()
	m.served0[0], m.served0[1] = r.e.watch.Served()
	m.wsql0, m.ssql0 = r.e.wProxy.Snapshot(), r.e.sProxy.Snapshot()
	r.e.watch.Reset()
	r.e.pdns.resetStats()
	r.e.watch.SampleTasks(200 * time.Millisecond)
	m.rssPeak = newRSSWatch(p.w.pid())
	if r.o.PerfDir != "" {
		for name, pid := range map[string]int{procWorker: p.w.pid(), procTemporal: r.e.temporal.Proc.Pid()} {
			pr, err := startPerf(r.o.PerfDir, fmt.Sprintf("%s-n%d", name, n), pid)
			if err != nil {
				m.stop()
				return nil, err
			}
			m.perfs = append(m.perfs, pr)
		}
	}
	return m, nil
}

// stop stops the samplers; a second call does nothing.
func (m *fleetMeters) stop() {
	m.rssPeak.stop()
	for _, pr := range m.perfs {
		pr.stop()
	}
	m.perfs = nil
}

// read stops the samplers and fills in what the counters moved by: CPU,
// Temporal's metrics, the machine, the worker's memory, the per-node
// peaks, Proxmox calls, DNS and SQL.
func (m *fleetMeters) read(r *runner, p *phase, fr *FleetResult) {
	n := m.n
	r.e.watch.StopSampling()
	fr.CPUSeconds = m.cpu.Used()
	for _, pr := range m.perfs {
		pr.stop()
	}
	m.perfs = nil
	if prom1, err := scrapeTemporal(r.e.metricsAddr); err == nil && m.prom0 != nil {
		fr.Temporal = temporalStats(prom1.sub(m.prom0))
	}
	busy1, idle1 := machineCPU()
	fr.LoadAvgStart, fr.LoadAvgEnd = m.load0, loadAvg1()
	fr.MachineBusyS, fr.MachineIdleS = round1(busy1-m.busy0), round1(idle1-m.idle0)
	var ours float64
	for _, v := range fr.CPUSeconds {
		ours += v
	}
	fr.OtherProcsCPUS = round1(fr.MachineBusyS - ours)
	m.rssPeak.stop()
	if st, ok := ReadProc(p.w.pid()); ok {
		fr.WorkerPeakRSSKB = st.HWMKB
	}
	fr.WorkerIdleRSSKB = p.idleRSS
	fr.WorkerRSSKBPerRun = round1(float64(fr.WorkerPeakRSSKB-fr.WorkerIdleRSSKB) / float64(n))
	fr.WorkerPeakThreads = m.rssPeak.threads
	fr.NodePeaks = r.e.watch.Peaks()
	if r.o.NodeLimit > 0 {
		ok := true
		for _, v := range fr.NodePeaks.WorkerStopCalls {
			ok = ok && v <= r.o.NodeLimit
		}
		fr.NodeLimitHolds = &ok
	}
	fr.PVECalls = perRunCalls(diffCalls(r.e.sim.Calls(), m.calls0), n)
	fr.PVECallsPerRun = sumCalls(fr.PVECalls)
	ws, ss := r.e.watch.Served()
	fr.PVECallsWorkerPerRun = round2(float64(ws-m.served0[0]) / float64(n))
	fr.PVECallsLauncherPerRun = round2(float64(ss-m.served0[1]) / float64(n))
	fr.DNS = r.e.pdns.stats()
	fr.addSQL(r.e.wProxy.Snapshot().Sub(m.wsql0), r.e.sProxy.Snapshot().Sub(m.ssql0), n)
}

// countRuns counts the queue's terminate runs beyond one per service and
// its re-queue passes.
func (r *runner) countRuns(ctx context.Context, p *phase, fr *FleetResult) {
	if total, err := r.count(ctx, fmt.Sprintf("WorkflowType = '%s' AND TaskQueue = '%s'", pipeline.WorkflowName, p.queue)); err == nil {
		fr.ExtraRuns = int(total) - fr.N
	}
	if rec, err := r.count(ctx, fmt.Sprintf("WorkflowType = 'ReconcileWorkflow' AND TaskQueue = '%s'", p.queue)); err == nil {
		fr.ReconcilePasses = int(rec)
	}
}

// addSQL fills in the statements, round trips and waits per run of the
// worker's (w) and the starter's (s) connections.
func (fr *FleetResult) addSQL(w, s SQLCounts, n int) {
	fr.SQLPerRun = round2(float64(w.Statements+s.Statements) / float64(n))
	fr.SQLWorkerPerRun = round2(float64(w.Statements) / float64(n))
	fr.SQLStarterPerRun = round2(float64(s.Statements) / float64(n))
	fr.SQLRoundTripsPerRun = round2(float64(w.RoundTrips+s.RoundTrips) / float64(n))
	fr.SQLByKind = perRun(addCounts(w.ByKind, s.ByKind), n)
	fr.SQLWorkerByKind = perRun(w.ByKind, n)
	fr.SQLWorkerWaitMsPerRun = round1(ms(w.Wait) / float64(n))
	fr.SQLStarterWaitMsPerRun = round1(ms(s.Wait) / float64(n))
	fr.SQLMeanMsByKind = w.MeanWaitMs()
}

// addAnalysis fills in outcomes, makespan, overhead and run-time
// percentiles and the breakdown from the runs' histories.
func (fr *FleetResult) addAnalysis(a analysis, singleMakespan float64) {
	n := fr.N
	fr.Failed, fr.Succeeded = a.failed, n-a.failed
	fr.ActivityRetries = a.retries
	fr.HistoryEventTypesOfMax = a.typesOfMax
	fr.MakespanS = round2(a.last.Sub(a.first).Seconds())
	fr.ThroughputPerS = round2(float64(n) / a.last.Sub(a.first).Seconds())
	if singleMakespan > 0 {
		fr.MakespanRatio = round2(fr.MakespanS / singleMakespan)
	}
	fr.OverheadP50ms, fr.OverheadP90ms, fr.OverheadP99ms, fr.OverheadMaxms = round1(Percentile(a.over, 50)), round1(Percentile(a.over, 90)), round1(Percentile(a.over, 99)), round1(Max(a.over))
	fr.RunP50s, fr.RunP99s = round2(Percentile(a.e2e, 50)), round2(Percentile(a.e2e, 99))
	fr.HistoryEventsP50, fr.HistoryEventsMax = int(Percentile(a.evs, 50)), int(Max(a.evs))
	fr.Breakdown, fr.Activities = a.breakdown(), a.activities()
	for _, xs := range a.wftByIndex {
		fr.WorkflowTaskQueueByIndex = append(fr.WorkflowTaskQueueByIndex, distOf(xs))
	}
}

// addSequential estimates what the same VMs would take one after another.
func (fr *FleetResult) addSequential(svcs []svc, seq SequentialResult, destroy time.Duration) {
	var floors float64
	for _, s := range svcs {
		floors += (s.Stop + destroy).Seconds()
	}
	fr.SequentialMakespanEstS = round1(floors + float64(len(svcs))*seq.MeanOverheadS)
	fr.SequentialLinearEstS = round1(float64(len(svcs)) * seq.MeanRunS)
	if fr.MakespanS > 0 {
		fr.SequentialRatio = round1(fr.SequentialMakespanEstS / fr.MakespanS)
	}
}
