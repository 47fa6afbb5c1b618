package bench

// The bare baseline: a fleet's terminations made again by a plain Go loop
// without Temporal, on the same simulator, PowerDNS and MariaDB, so that
// what durability costs is a ratio (durability_cpu_ratio).
//
// The loop runs in a subprocess (the bench binary in -baseline-loop mode),
// so that its CPU is measured apart from the simulator, the proxies and
// the pipe readers in the bench process, as the worker's is.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// workerActivitySlots is how many activities the worker runs at once: the
// SDK's default MaxConcurrentActivityExecutionSize, which app.NewWorker
// leaves as it is. The loop holds one slot per activity call, as the worker
// does.
const workerActivitySlots = 1000

// Keys of a baseline's cpu_s besides procPDNS and procMariaDB.
const (
	procBaseline     = "baseline"
	procTemporalIdle = "temporal (idle)"
	procBenchSim     = "bench (simulator, proxies)"
)

// baselineSpec is what the bench gives a -baseline-loop process.
type baselineSpec struct {
	Config        string `json:"config"` // the worker's config file: its database proxy, its simulator port, the DNS providers
	ServiceIDs    []int  `json:"service_ids"`
	ActivitySlots int    `json:"activity_slots"`
}

// baselineRun is one termination of the loop.
type baselineRun struct {
	ServiceID int       `json:"service_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Error     string    `json:"error,omitempty"`
}

// baselineAnswer is what a -baseline-loop process writes when it is done.
type baselineAnswer struct {
	Runs []baselineRun `json:"runs"`
	CPUS float64       `json:"cpu_s"` // getrusage(RUSAGE_SELF) from "go" to the answer
}

// BaselineLoopMain is the -baseline-loop mode of the bench binary. It reads
// the spec at specPath, opens what the worker opens (app.Open: the store,
// the Proxmox clients and DNS providers with the module log, the activities
// printing their lines to stdout), writes "ready" on file descriptor 3,
// waits for a line on stdin, terminates every service at once, writes the
// module log's queued rows, answers with one JSON line (baselineAnswer) on
// descriptor 3 and exits when stdin closes, so that the bench reads its CPU
// before it is gone.
func BaselineLoopMain(specPath string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "bench -baseline-loop:", err)
		return 1
	}
	b, err := os.ReadFile(specPath)
	if err != nil {
		return fail(err)
	}
	var spec baselineSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail(fmt.Errorf("%s: %w", specPath, err))
	}
	cfg, err := config.Load(spec.Config)
	if err != nil {
		return fail(err)
	}
	deps, err := app.Open(cfg, os.Stdout)
	if err != nil {
		return fail(err)
	}
	defer deps.Close()
	ctl := os.NewFile(3, "control")
	if _, err := fmt.Fprintln(ctl, "ready"); err != nil {
		return fail(fmt.Errorf("file descriptor 3: %w", err))
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return fail(fmt.Errorf("waiting for go: %w", err))
	}
	cpu0 := selfCPU()
	l := &bareLoop{acts: deps.Activities, tm: cfg.Timing.WithDefaults(), slots: make(chan struct{}, max(spec.ActivitySlots, 1))}
	runs := l.run(context.Background(), spec.ServiceIDs)
	// The worker writes its module log in the background; write what is
	// still queued, so that every row is in the statement count.
	fctx, cancel := context.WithTimeout(context.Background(), app.FlushTimeout)
	err = deps.ModuleLog.Close(fctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench -baseline-loop: module log flush:", err)
	}
	if err := json.NewEncoder(ctl).Encode(baselineAnswer{Runs: runs, CPUS: round2(selfCPU() - cpu0)}); err != nil {
		return fail(err)
	}
	_, _ = io.Copy(io.Discard, in)
	return 0
}

// selfCPU is the process's user + system CPU seconds so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// bareLoop terminates services without Temporal: the activities of
// TerminateWorkflow's attempt (workflows/terminate.go), called in its order
// as plain functions. Outside an activity they skip the heartbeats, the
// activity metrics and the activity logger and do everything else, so the
// Proxmox, DNS and database calls — module log included — are the worker's
// own, made by the same code. It leaves out what the workflow and the
// worker add: the search-attribute upserts and the status query, the
// retries of a failed activity and the extra rounds of a DELETE lost with
// its worker, the undo window (timing.destroy_delay, 0 in the bench),
// after a failure the wait for an admin (the failure is recorded, then the
// run ends), and the re-queue schedule's passes (Reconcile reads the row
// of every service in 'terminate': a fleet's worker makes one more SELECT
// of tblhosting and of the VM table per run for each pass).
type bareLoop struct {
	acts  *activities.Activities
	tm    pipeline.Timing
	slots chan struct{} // activities in flight, as the worker's activity slots
}

// run terminates every service at once and returns each run's times.
func (l *bareLoop) run(ctx context.Context, ids []int) []baselineRun {
	runs := make([]baselineRun, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = baselineRun{ServiceID: id, Start: time.Now()}
			err := l.terminate(ctx, id)
			runs[i].End = time.Now()
			if err != nil {
				runs[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return runs
}

// step runs one activity in one of the loop's activity slots.
func step[I, O any](ctx context.Context, l *bareLoop, f func(context.Context, I) (O, error), in I) (O, error) {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		var zero O
		return zero, ctx.Err()
	}
	defer func() { <-l.slots }()
	return f(ctx, in)
}

// terminate is one attempt: LoadTarget, StopVM (ForceStopVM when the VM
// did not stop), CheckDeletable, RemoveBackups, DeleteDNS, DeleteVM,
// CleanDB; RecordFailure where the workflow records one.
func (l *bareLoop) terminate(ctx context.Context, serviceID int) error {
	a := l.acts
	started := time.Now()
	var lines, errs []string
	add := func(ls []pipeline.Line) {
		for _, ln := range ls {
			lines = append(lines, ln.Format(serviceID))
		}
	}
	note := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	load, err := step(ctx, l, a.LoadTarget, serviceID)
	if err != nil {
		return fmt.Errorf("%s: %w", pipeline.PhaseLoad, err)
	}
	t := load.Target
	add(load.Lines)
	failed := func(phase string, cause error) error {
		fin := activities.FinishInput{Target: t, StartedAt: started, Phase: phase, Reason: cause.Error(), Errors: errs, Lines: lines}
		if _, err := step(ctx, l, a.RecordFailure, fin); err != nil {
			return fmt.Errorf("%s: %w (recording the failure: %v)", phase, cause, err)
		}
		return fmt.Errorf("%s: %w", phase, cause)
	}
	if load.Refusal != "" {
		return failed(pipeline.PhaseLoad, errors.New(load.Refusal))
	}

	stop, err := step(ctx, l, a.StopVM, activities.StopInput{Target: t, Timing: l.tm})
	add(stop.Lines)
	ownerVerified := err == nil && !stop.Missing
	if isMismatch(err) {
		return failed(pipeline.PhaseStop, err)
	}
	if err != nil {
		note("stop phase failed: %v", err)
	}
	if err != nil || !stop.Stopped {
		force, err := step(ctx, l, a.ForceStopVM, activities.StopInput{Target: t, Timing: l.tm, ShutdownUPID: stop.ShutdownUPID})
		add(force.Lines)
		ownerVerified = ownerVerified || (err == nil && !force.Missing)
		if isMismatch(err) {
			return failed(pipeline.PhaseForceStop, err)
		}
		if err != nil {
			note("force-stop phase failed: %v", err)
		}
	}

	chk, err := step(ctx, l, a.CheckDeletable, t)
	add(chk.Lines)
	switch {
	case err == nil && chk.Refusal != "":
		return failed(pipeline.PhaseDelete, errors.New(chk.Refusal))
	case isMismatch(err):
		return failed(pipeline.PhaseCheckDelete, err)
	case err != nil:
		note("deletability check failed: %v; the DELETE decides", err)
	}

	backups, err := step(ctx, l, a.RemoveBackups, activities.BackupsInput{Target: t, Timing: l.tm, OwnerVerified: ownerVerified})
	add(backups.Lines)
	errs = append(errs, backups.Errors...)
	if err != nil {
		note("backup phase failed: %v", err)
	}
	dnsRes, err := step(ctx, l, a.DeleteDNS, t)
	add(dnsRes.Lines)
	errs = append(errs, dnsRes.Errors...)
	if err != nil {
		note("DNS phase failed: %v", err)
	}
	del, err := step(ctx, l, a.DeleteVM, activities.VMInput{Target: t, Timing: l.tm})
	add(del.Lines)
	if err != nil {
		return failed(pipeline.PhaseDelete, err)
	}
	fin := activities.FinishInput{Target: t, StartedAt: started, Phase: pipeline.PhaseCleanDB, Errors: errs, Lines: lines}
	if _, err := step(ctx, l, a.CleanDB, fin); err != nil {
		return fmt.Errorf("%s: %w", pipeline.PhaseCleanDB, err)
	}
	return nil
}

func isMismatch(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == pipeline.ErrIdentityMismatch
}

// ---------------------------------------------------------------- the bench's side

// baseline terminates len(stops) services seeded as a fleet's were (the
// i-th guest stops after stops[i], nodes alternate, same backups and DNS
// records) with the -baseline-loop subprocess, and measures it as a fleet
// is measured. fleet is that fleet's result, for the comparison.
func (r *runner) baseline(ctx context.Context, fleet FleetResult, stops []time.Duration) (BaselineResult, error) {
	n := len(stops)
	res := BaselineResult{N: n, ActivitySlots: workerActivitySlots}
	r.o.Logf("baseline %d: seeding", n)
	svcs, err := r.seed(ctx, n, func(i int) time.Duration { return stops[i] })
	if err != nil {
		return res, err
	}
	name := fmt.Sprintf("baseline-n%d-%s", n, randHex(3))
	workerCfg, _, err := r.e.writeConfigs("bench-" + name)
	if err != nil {
		return res, err
	}
	spec := baselineSpec{Config: workerCfg, ActivitySlots: workerActivitySlots}
	for _, s := range svcs {
		spec.ServiceIDs = append(spec.ServiceIDs, s.ID)
	}
	lp, err := r.startLoop(ctx, name, spec)
	if err != nil {
		return res, err
	}
	defer lp.stop()

	pids := map[string]int{procBaseline: lp.cmd.Process.Pid, procTemporalIdle: r.e.temporal.Proc.Pid(), procBenchSim: os.Getpid(), procPDNS: r.e.pdns.pid()}
	if ps := FindProcs("mariadbd", 0); len(ps) > 0 {
		pids[procMariaDB] = ps[0]
	}
	cpu := NewCPUMeter(pids)
	busy0, idle0 := machineCPU()
	calls0 := r.e.sim.Calls()
	sql0 := r.e.wProxy.Snapshot()
	r.e.pdns.resetStats()
	r.e.watch.Reset()
	r.e.watch.SampleTasks(200 * time.Millisecond)
	r.o.Logf("baseline %d: terminating (no Temporal, every run at once)", n)
	ans, err := lp.do(ctx, r.o.PhaseTimeout)
	r.e.watch.StopSampling()
	if err != nil {
		return res, err
	}
	res.CPUSeconds = cpu.Used()
	busy1, idle1 := machineCPU()
	res.MachineBusyS, res.MachineIdleS = round1(busy1-busy0), round1(idle1-idle0)
	var ours float64
	for _, v := range res.CPUSeconds {
		ours += v
	}
	res.OtherProcsCPUS = round1(res.MachineBusyS - ours)
	res.SelfReportedCPUS = ans.CPUS
	res.NodePeaks = r.e.watch.Peaks()
	res.DNS = r.e.pdns.stats()
	res.PVECalls = perRunCalls(diffCalls(r.e.sim.Calls(), calls0), n)
	res.PVECallsPerRun = sumCalls(res.PVECalls)
	sql := r.e.wProxy.Snapshot().Sub(sql0)
	res.SQLPerRun = round2(float64(sql.Statements) / float64(n))
	res.SQLRoundTripsPerRun = round2(float64(sql.RoundTrips) / float64(n))
	res.SQLByKind = perRun(sql.ByKind, n)
	res.SQLWaitMsPerRun = round1(ms(sql.Wait) / float64(n))
	res.addRuns(svcs, ans.Runs, r.o.Destroy)
	res.CPUSPerRun = cpuPerRun(res.CPUSeconds, res.Succeeded)
	res.compare(fleet)
	r.o.Logf("baseline %d: makespan %.2fs, %.1f ms CPU per run (fleet: server + worker %.1f ms), durability_cpu_ratio %.1f, %d failed",
		n, res.MakespanS, res.CPUSPerRun[procBaseline]*1000, res.FleetServerPlusWorkerCPUSPerRun*1000, res.DurabilityCPURatio, res.Failed)
	return res, nil
}

// addRuns fills in outcomes, makespan and run times from the loop's answer.
func (res *BaselineResult) addRuns(svcs []svc, runs []baselineRun, destroy time.Duration) {
	stopOf := map[int]time.Duration{}
	for _, s := range svcs {
		stopOf[s.ID] = s.Stop
	}
	var first, last time.Time
	var e2e, over []float64
	seen := map[string]bool{}
	for _, run := range runs {
		if first.IsZero() || run.Start.Before(first) {
			first = run.Start
		}
		if run.End.After(last) {
			last = run.End
		}
		if run.Error != "" {
			res.Failed++
			if !seen[run.Error] && len(res.Errors) < 5 {
				seen[run.Error] = true
				res.Errors = append(res.Errors, fmt.Sprintf("service %d: %s", run.ServiceID, run.Error))
			}
			continue
		}
		d := run.End.Sub(run.Start)
		e2e = append(e2e, d.Seconds())
		over = append(over, ms(d-stopOf[run.ServiceID]-destroy))
	}
	res.Succeeded = len(runs) - res.Failed
	if span := last.Sub(first); span > 0 {
		res.MakespanS = round2(span.Seconds())
		res.ThroughputPerS = round2(float64(len(runs)) / span.Seconds())
	}
	res.RunP50s, res.RunP99s = round2(Percentile(e2e, 50)), round2(Percentile(e2e, 99))
	res.OverheadP50ms, res.OverheadP99ms = round1(Percentile(over, 50)), round1(Percentile(over, 99))
}

// compare fills in the fleet's numbers next to the baseline's and the ratios.
func (res *BaselineResult) compare(f FleetResult) {
	res.FleetPVECallsPerRun, res.FleetPVECallsWorkerPerRun = f.PVECallsPerRun, f.PVECallsWorkerPerRun
	res.FleetSQLWorkerPerRun = f.SQLWorkerPerRun
	res.FleetServerPlusWorkerCPUSPerRun = f.CPUSPerRun[serverPlusWorker]
	res.DurabilityCPURatio = durabilityRatio(f.CPUSeconds, f.Succeeded, res.CPUSeconds, res.Succeeded)
	res.WorkerCPURatio = cpuRatio(f.CPUSeconds, []string{procWorker}, f.Succeeded, res.CPUSeconds, res.Succeeded)
}

// durabilityRatio is (the Temporal server's + the worker's CPU-s per
// successful run of a fleet) / (the baseline process's CPU-s per
// successful run); 0 when either side has nothing to divide.
func durabilityRatio(fleet map[string]float64, fleetRuns int, base map[string]float64, baseRuns int) float64 {
	return cpuRatio(fleet, []string{procTemporal, procWorker}, fleetRuns, base, baseRuns)
}

// cpuRatio is the CPU-s per run of the fleet's processes keys, summed,
// over the baseline process's CPU-s per run, to two decimals.
func cpuRatio(fleet map[string]float64, keys []string, fleetRuns int, base map[string]float64, baseRuns int) float64 {
	var num float64
	for _, k := range keys {
		v, ok := fleet[k]
		if !ok {
			return 0
		}
		num += v
	}
	den := base[procBaseline]
	if fleetRuns <= 0 || baseRuns <= 0 || num <= 0 || den <= 0 {
		return 0
	}
	return round2((num / float64(fleetRuns)) / (den / float64(baseRuns)))
}

// loopProc is a running -baseline-loop process.
type loopProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // the control lines it writes on descriptor 3
	log   string
	logf  *os.File // closed once Wait has copied the last output
	once  sync.Once
}

// startLoop starts the bench binary in -baseline-loop mode, its output
// through a pipe into a log file as the worker's, and waits for its ready.
func (r *runner) startLoop(ctx context.Context, name string, spec baselineSpec) (*loopProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the bench binary: %w", err)
	}
	specPath := filepath.Join(r.e.dir, name+".json")
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return nil, err
	}
	lp := &loopProc{log: filepath.Join(r.e.dir, name+".log"), lines: make(chan string, 2)}
	logf, err := os.OpenFile(lp.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	lp.cmd = exec.Command(self, "-baseline-loop", specPath)
	if len(r.o.WorkerEnv) > 0 { // the worker's environment (GOGC, ...): like for like
		lp.cmd.Env = append(os.Environ(), r.o.WorkerEnv...)
	}
	lp.cmd.Stdout, lp.cmd.Stderr = struct{ io.Writer }{logf}, struct{ io.Writer }{logf}
	lp.cmd.ExtraFiles = []*os.File{ctlW}
	if lp.stdin, err = lp.cmd.StdinPipe(); err != nil {
		ctlR.Close()
		ctlW.Close()
		logf.Close()
		return nil, err
	}
	err = lp.cmd.Start()
	ctlW.Close()
	if err != nil {
		ctlR.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s -baseline-loop: %w", self, err)
	}
	lp.logf = logf
	go func() {
		defer ctlR.Close()
		sc := bufio.NewScanner(ctlR)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			lp.lines <- sc.Text()
		}
		close(lp.lines)
	}()
	if line, err := lp.next(ctx, time.Minute); err != nil || line != "ready" {
		lp.stop()
		if err == nil {
			err = fmt.Errorf("said %q", line)
		}
		return nil, fmt.Errorf("baseline loop not ready: %w\n%s", err, lp.logTail())
	}
	return lp, nil
}

// next waits up to d for the loop's next control line.
func (lp *loopProc) next(ctx context.Context, d time.Duration) (string, error) {
	select {
	case line, ok := <-lp.lines:
		if !ok {
			return "", errors.New("it exited")
		}
		return line, nil
	case <-time.After(d):
		return "", fmt.Errorf("no answer within %s", d)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// do tells the loop to go and returns its answer.
func (lp *loopProc) do(ctx context.Context, timeout time.Duration) (baselineAnswer, error) {
	var ans baselineAnswer
	if _, err := io.WriteString(lp.stdin, "go\n"); err != nil {
		return ans, fmt.Errorf("baseline loop: %w", err)
	}
	line, err := lp.next(ctx, timeout)
	if err != nil {
		return ans, fmt.Errorf("baseline loop: %w\n%s", err, lp.logTail())
	}
	if err := json.Unmarshal([]byte(line), &ans); err != nil {
		return ans, fmt.Errorf("baseline loop's answer: %w", err)
	}
	return ans, nil
}

// stop closes the loop's stdin (it exits) and waits; a loop still running
// after 15 s is killed.
func (lp *loopProc) stop() {
	lp.once.Do(func() {
		lp.stdin.Close()
		done := make(chan struct{})
		go func() { _ = lp.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = lp.cmd.Process.Kill()
			<-done
		}
		lp.logf.Close()
	})
}

func (lp *loopProc) logTail() string {
	b, _ := os.ReadFile(lp.log)
	return tail(strings.TrimSpace(string(b)), 2000)
}

// BaselineResult is one baseline: a fleet's terminations by the plain loop.
type BaselineResult struct {
	N                   int                `json:"n"`
	ActivitySlots       int                `json:"activity_slots"` // activities at once, as the worker's
	Succeeded           int                `json:"succeeded"`
	Failed              int                `json:"failed"`
	Errors              []string           `json:"errors,omitempty"` // the first few distinct ones
	MakespanS           float64            `json:"makespan_s"`       // first run's start → last run's end
	ThroughputPerS      float64            `json:"throughput_per_s"`
	RunP50s             float64            `json:"run_p50_s"`
	RunP99s             float64            `json:"run_p99_s"`
	OverheadP50ms       float64            `json:"overhead_p50_ms"` // run − (guest stop + destroy task)
	OverheadP99ms       float64            `json:"overhead_p99_ms"`
	PVECallsPerRun      float64            `json:"pve_calls_per_run"`
	PVECalls            map[string]float64 `json:"pve_calls_by_route"`
	NodePeaks           NodePeaks          `json:"node_peaks"`
	SQLPerRun           float64            `json:"sql_statements_per_run"`
	SQLRoundTripsPerRun float64            `json:"sql_round_trips_per_run"`
	SQLByKind           map[string]float64 `json:"sql_by_kind_per_run"`
	SQLWaitMsPerRun     float64            `json:"sql_wait_ms_per_run"`
	DNS                 DNSStats           `json:"dns"`
	CPUSeconds          map[string]float64 `json:"cpu_s"`
	CPUSPerRun          map[string]float64 `json:"cpu_s_per_run"`
	SelfReportedCPUS    float64            `json:"baseline_self_reported_cpu_s"` // the loop's getrusage, a cross-check of cpu_s.baseline
	MachineBusyS        float64            `json:"machine_busy_cpu_s"`
	MachineIdleS        float64            `json:"machine_idle_cpu_s"`
	OtherProcsCPUS      float64            `json:"other_processes_cpu_s"`
	// The fleet of the same N, for the comparison: its Proxmox calls per
	// run (all, and the worker's alone: the clicks add a config read and a
	// shutdown), its worker's SQL statements per run and its Temporal
	// server + worker CPU-s per run.
	FleetPVECallsPerRun             float64 `json:"fleet_pve_calls_per_run"`
	FleetPVECallsWorkerPerRun       float64 `json:"fleet_pve_calls_worker_per_run"`
	FleetSQLWorkerPerRun            float64 `json:"fleet_sql_worker_per_run"`
	FleetServerPlusWorkerCPUSPerRun float64 `json:"fleet_server_plus_worker_cpu_s_per_run"`
	DurabilityCPURatio              float64 `json:"durability_cpu_ratio"` // fleet's server_plus_worker / baseline, per run
	WorkerCPURatio                  float64 `json:"worker_cpu_ratio"`     // fleet's worker alone / baseline, per run
}

// BaselineReport is the JSON's baseline section: one result per fleet size.
type BaselineReport struct {
	Method string           `json:"method"`
	Fleets []BaselineResult `json:"fleets"`
}

const baselineMethod = "after each fleet, as many services seeded as the fleet's (the same guest stop times, nodes, backups and DNS records), " +
	"terminated by the bench binary in -baseline-loop mode (a subprocess): every run at once, each calling the activities of one attempt " +
	"(LoadTarget, StopVM, ForceStopVM when needed, CheckDeletable, RemoveBackups, DeleteDNS, DeleteVM, CleanDB) as plain functions in the " +
	"workflow's order, with the worker's wiring (app.Open: the worker's config, database proxy, simulator port, DNS providers, module log) " +
	"and its activity slots; no Temporal, no search attributes, no retries, no heartbeats. durability_cpu_ratio = (Temporal server + worker " +
	"CPU-s per successful run of the fleet) / (the baseline process's CPU-s per successful run)"
