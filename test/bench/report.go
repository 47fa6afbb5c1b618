package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// Report is bench/results/latest.json. The top-level summary fields refer
// to the largest fleet; Fleets has every fleet size.
type Report struct {
	StarterP50ms      float64 `json:"starter_p50_ms"`
	StarterP99ms      float64 `json:"starter_p99_ms"`
	SingleMakespanS   float64 `json:"single_makespan_s"`
	SingleFloorS      float64 `json:"single_floor_s"`
	N                 int     `json:"n"`
	MakespanS         float64 `json:"makespan_s"`
	MakespanRatio     float64 `json:"makespan_ratio"`
	ThroughputPerS    float64 `json:"throughput_per_s"`
	OverheadP50ms     float64 `json:"overhead_p50_ms"`
	OverheadP99ms     float64 `json:"overhead_p99_ms"`
	PVECallsPerRun    float64 `json:"pve_calls_per_run"`
	PVECallsMinimum   float64 `json:"pve_calls_minimum"`
	HistoryEventsMax  int     `json:"history_events_max"`
	WorkerRSSKBPerRun float64 `json:"worker_rss_kb_per_run"`
	SQLPerRun         float64 `json:"sql_statements_per_run"`
	SequentialRatio   float64 `json:"sequential_ratio"`
	// DurabilityCPURatio is the largest fleet's: (Temporal server + worker
	// CPU-s per run) / (the bare baseline's CPU-s per run).
	DurabilityCPURatio float64 `json:"durability_cpu_ratio,omitempty"`

	Pacing      Pacing           `json:"pacing"`
	Environment Environment      `json:"environment"`
	Starter     StarterResult    `json:"starter"`
	Single      SingleResult     `json:"single"`
	Sequential  SequentialResult `json:"sequential"`
	Fleets      []FleetResult    `json:"fleets"`
	Baseline    *BaselineReport  `json:"baseline,omitempty"`
	Targets     []Target         `json:"targets"`
}

// Pacing is the compressed timing of the run.
type Pacing struct {
	GuestStopMinS        float64         `json:"guest_stop_min_s"`
	GuestStopMaxS        float64         `json:"guest_stop_max_s"`
	GuestStopDistributed string          `json:"guest_stop_distribution"`
	StopPollS            float64         `json:"stop_poll_s"`
	TaskPollMs           float64         `json:"task_poll_ms"`
	DestroyS             float64         `json:"destroy_task_s"`
	ImgDelMs             float64         `json:"backup_delete_task_ms"`
	PVELatencyMs         float64         `json:"pve_api_latency_ms"`
	PVETaskLatencyMs     float64         `json:"pve_task_call_latency_ms"`
	BackupsPerVM         int             `json:"backups_per_vm"`
	BackupStorages       int             `json:"backup_storages_per_node"`
	DNSRecordsPerVM      int             `json:"dns_records_per_vm"`
	Nodes                []string        `json:"nodes"`
	Seed                 int64           `json:"seed"`
	Timing               pipeline.Timing `json:"timing"`
	ConfigOverrides      []string        `json:"config_overrides,omitempty"`
	InterpolateParams    bool            `json:"dsn_interpolate_params,omitempty"`
	WorkerEnv            []string        `json:"worker_env,omitempty"`
	WorkerPkg            string          `json:"worker_pkg,omitempty"`
}

// Environment says where the numbers come from.
type Environment struct {
	Date       string `json:"date"`
	Commit     string `json:"commit"`
	GoVersion  string `json:"go"`
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MariaDB    string `json:"mariadb"`
	TemporalDB string `json:"temporal_persistence"`
	Quick      bool   `json:"quick"`
}

// StarterResult is the click-to-success latency of the starter binary.
type StarterResult struct {
	Calls                int                `json:"calls"`
	P50ms                float64            `json:"p50_ms"`
	P90ms                float64            `json:"p90_ms"`
	P99ms                float64            `json:"p99_ms"`
	Maxms                float64            `json:"max_ms"`
	MeanMs               float64            `json:"mean_ms"`
	CPUMsP50             float64            `json:"cpu_ms_p50"`
	SQLPerCall           float64            `json:"sql_statements_per_call"`
	SQLRoundTripsPerCall float64            `json:"sql_round_trips_per_call"`
	SQLByKind            map[string]float64 `json:"sql_by_kind"`
	SQLWaitMsPerCall     float64            `json:"sql_wait_ms_per_call"` // waiting for MariaDB's answers (all round trips)
	WallS                float64            `json:"wall_s"`
	MachineIdleS         float64            `json:"machine_idle_cpu_s"`    // idle CPU time during the calls
	OtherProcsCPUS       float64            `json:"other_processes_cpu_s"` // CPU of processes that are neither the stack nor the starters
	Method               string             `json:"method"`
}

// SingleResult is one termination alone.
type SingleResult struct {
	Runs                   int                     `json:"runs"`
	MakespanS              float64                 `json:"makespan_s"` // median
	MakespansS             []float64               `json:"makespans_s"`
	Floors                 float64                 `json:"floor_s"` // guest stop + destroy task
	OverheadMs             float64                 `json:"overhead_ms"`
	HistoryEvents          int                     `json:"history_events"`
	PVECalls               map[string]float64      `json:"pve_calls_by_route"`
	PVECallsPerRun         float64                 `json:"pve_calls_per_run"`
	PVECallsMinimum        float64                 `json:"pve_calls_minimum"`
	PVECallsMinimumByRoute map[string]float64      `json:"pve_calls_minimum_by_route"`
	SQLPerRun              float64                 `json:"sql_statements_per_run"`
	Failed                 int                     `json:"failed"`
	Breakdown              map[string]Dist         `json:"overhead_breakdown"`
	Activities             map[string]ActivityDist `json:"activities"`
}

// SequentialResult is the vendor's model, sampled.
type SequentialResult struct {
	SampleRuns      int     `json:"sample_runs"`
	SampleMakespanS float64 `json:"sample_makespan_s"`
	MeanRunS        float64 `json:"mean_run_s"`
	MeanOverheadS   float64 `json:"mean_overhead_s"`
	Method          string  `json:"method"`
}

// Dist is a distribution in milliseconds.
type Dist struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func distOf(xs []float64) Dist {
	return Dist{P50: round1(Percentile(xs, 50)), P99: round1(Percentile(xs, 99)), Max: round1(Max(xs))}
}

// ActivityDist is an activity's queueing and running time.
type ActivityDist struct {
	Count           int  `json:"count"`
	ScheduleToStart Dist `json:"schedule_to_start"`
	StartToClose    Dist `json:"start_to_close"`
}

// FleetResult is N concurrent terminations.
type FleetResult struct {
	N              int                     `json:"n"`
	Launch         string                  `json:"launch"`
	LaunchParallel int                     `json:"launch_parallel"`
	LaunchSpanS    float64                 `json:"launch_span_s"`
	Succeeded      int                     `json:"succeeded"`
	Failed         int                     `json:"failed"`
	MakespanS      float64                 `json:"makespan_s"`
	MakespanRatio  float64                 `json:"makespan_ratio"`
	ThroughputPerS float64                 `json:"throughput_per_s"`
	RunP50s        float64                 `json:"run_p50_s"`
	RunP99s        float64                 `json:"run_p99_s"`
	OverheadP50ms  float64                 `json:"overhead_p50_ms"`
	OverheadP90ms  float64                 `json:"overhead_p90_ms"`
	OverheadP99ms  float64                 `json:"overhead_p99_ms"`
	OverheadMaxms  float64                 `json:"overhead_max_ms"`
	Breakdown      map[string]Dist         `json:"overhead_breakdown"`
	Activities     map[string]ActivityDist `json:"activities"`
	// WorkflowTaskQueueByIndex is the queue time of each run's 1st, 2nd, ... workflow task.
	WorkflowTaskQueueByIndex []Dist             `json:"workflow_task_queue_by_index"`
	ActivityRetries          int                `json:"activity_retries"`
	PVECallsPerRun           float64            `json:"pve_calls_per_run"`
	PVECallsMinimum          float64            `json:"pve_calls_minimum"`
	PVECalls                 map[string]float64 `json:"pve_calls_by_route"`
	PVECallsMinimumByRoute   map[string]float64 `json:"pve_calls_minimum_by_route"`
	PVECallsWorkerPerRun     float64            `json:"pve_calls_worker_per_run"`   // the worker's share of pve_calls_per_run
	PVECallsLauncherPerRun   float64            `json:"pve_calls_launcher_per_run"` // the clicks' share
	NodePeaks                NodePeaks          `json:"node_peaks"`
	NodeLimit                int                `json:"node_limit,omitempty"`
	NodeLimitHolds           *bool              `json:"node_limit_holds,omitempty"`
	HistoryEventsP50         int                `json:"history_events_p50"`
	HistoryEventsMax         int                `json:"history_events_max"`
	HistoryEventTypesOfMax   map[string]int     `json:"history_event_types_of_max"`
	SQLPerRun                float64            `json:"sql_statements_per_run"`
	SQLWorkerPerRun          float64            `json:"sql_worker_per_run"`
	SQLStarterPerRun         float64            `json:"sql_starter_per_run"`
	SQLRoundTripsPerRun      float64            `json:"sql_round_trips_per_run"`
	SQLByKind                map[string]float64 `json:"sql_by_kind_per_run"`
	SQLWorkerByKind          map[string]float64 `json:"sql_worker_by_kind_per_run"`
	SQLWorkerWaitMsPerRun    float64            `json:"sql_worker_wait_ms_per_run"`  // the worker's time waiting for MariaDB's answers, per run
	SQLStarterWaitMsPerRun   float64            `json:"sql_starter_wait_ms_per_run"` // the launcher's
	SQLMeanMsByKind          map[string]float64 `json:"sql_worker_mean_ms_by_kind"`
	WorkerIdleRSSKB          int                `json:"worker_idle_rss_kb"`
	WorkerPeakRSSKB          int                `json:"worker_peak_rss_kb"`
	WorkerRSSKBPerRun        float64            `json:"worker_rss_kb_per_run"`
	WorkerPeakThreads        int                `json:"worker_peak_threads"`
	CPUSeconds               map[string]float64 `json:"cpu_s"`
	CPUSPerRun               map[string]float64 `json:"cpu_s_per_run"`         // cpu_s / succeeded, and server_plus_worker (Temporal server + worker)
	MachineBusyS             float64            `json:"machine_busy_cpu_s"`    // every process on the machine, during the fleet
	MachineIdleS             float64            `json:"machine_idle_cpu_s"`    // idle CPU time left, during the fleet
	OtherProcsCPUS           float64            `json:"other_processes_cpu_s"` // busy minus the processes above: other users of the machine
	LoadAvgStart             float64            `json:"loadavg_1m_start"`
	LoadAvgEnd               float64            `json:"loadavg_1m_end"`
	DNS                      DNSStats           `json:"dns"`
	Temporal                 TemporalStats      `json:"temporal_server"`
	ExtraRuns                int                `json:"extra_runs"`       // runs the re-queue schedule started for rows already finished
	ReconcilePasses          int                `json:"reconcile_passes"` // re-queue schedule runs during the fleet
	SequentialMakespanEstS   float64            `json:"sequential_makespan_est_s"`
	SequentialLinearEstS     float64            `json:"sequential_linear_est_s"`
	SequentialRatio          float64            `json:"sequential_ratio"`
	// DurabilityCPURatio: cpu_s_per_run.server_plus_worker over the bare
	// baseline's CPU-s per run for the same N (0 without a baseline).
	DurabilityCPURatio float64 `json:"durability_cpu_ratio,omitempty"`
}

// Target is one of the benchmark's performance targets.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func pacingOf(o Options) Pacing {
	return Pacing{
		GuestStopMinS: o.StopMin.Seconds(), GuestStopMaxS: o.StopMax.Seconds(), GuestStopDistributed: "uniform, seeded",
		StopPollS: o.Timing.StopPoll.Seconds(), TaskPollMs: ms(o.Timing.TaskPoll), DestroyS: o.Destroy.Seconds(),
		ImgDelMs: ms(o.ImgDel), PVELatencyMs: ms(o.PVELatency), PVETaskLatencyMs: ms(o.PVETaskLatency), BackupsPerVM: backupsPerVM, BackupStorages: backupStoragesPerVM, DNSRecordsPerVM: dnsRecordsPerVM,
		Nodes: nodes, Seed: o.Seed, Timing: o.Timing, ConfigOverrides: o.Sets, InterpolateParams: o.InterpolateParams, WorkerEnv: o.WorkerEnv, WorkerPkg: o.WorkerPkg,
	}
}

func environment(o Options) Environment {
	env := Environment{Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Quick: o.Quick,
		TemporalDB: "in-memory SQLite (temporal server start-dev)"}
	if o.TemporalDB != "" {
		env.TemporalDB = "SQLite file (temporal server start-dev --db-filename)"
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		env.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			env.Commit += "+dirty"
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				env.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return env
}

func (e *env) mariadbVersion() string {
	var v string
	e.store.DB().Raw("SELECT VERSION()").Scan(&v)
	return v
}

// summarize fills the top-level fields from the largest fleet and checks the targets.
func (r *Report) summarize(o Options) {
	r.StarterP50ms, r.StarterP99ms = r.Starter.P50ms, r.Starter.P99ms
	r.Starter.Method = "wall time of `starter terminate --service-id N` (the built binary as a subprocess, as PHP runs it), one call after another, each starting a real termination"
	r.SingleMakespanS, r.SingleFloorS = r.Single.MakespanS, r.Single.Floors
	if len(r.Fleets) == 0 {
		return
	}
	big := r.Fleets[0]
	for _, f := range r.Fleets {
		if f.N > big.N {
			big = f
		}
	}
	r.N, r.MakespanS, r.MakespanRatio, r.ThroughputPerS = big.N, big.MakespanS, big.MakespanRatio, big.ThroughputPerS
	r.OverheadP50ms, r.OverheadP99ms = big.OverheadP50ms, big.OverheadP99ms
	r.PVECallsPerRun, r.PVECallsMinimum = big.PVECallsPerRun, big.PVECallsMinimum
	r.WorkerRSSKBPerRun, r.SQLPerRun, r.SequentialRatio = big.WorkerRSSKBPerRun, big.SQLPerRun, big.SequentialRatio
	r.DurabilityCPURatio = big.DurabilityCPURatio
	for _, f := range r.Fleets {
		r.HistoryEventsMax = max(r.HistoryEventsMax, f.HistoryEventsMax)
	}
	r.HistoryEventsMax = max(r.HistoryEventsMax, r.Single.HistoryEvents)

	add := func(name, goal, measured string, met bool) {
		r.Targets = append(r.Targets, Target{Name: name, Goal: goal, Measured: measured, Met: met})
	}
	add("starter p99", "<= 150 ms", fmt.Sprintf("%.0f ms", r.StarterP99ms), r.StarterP99ms <= 150)
	for _, f := range r.Fleets {
		add(fmt.Sprintf("makespan N=%d", f.N), "<= 1.5x one run", fmt.Sprintf("%.2fx (%.1fs vs %.1fs)", f.MakespanRatio, f.MakespanS, r.SingleMakespanS), f.MakespanRatio <= 1.5 && f.Failed == 0)
		add(fmt.Sprintf("overhead p50 N=%d", f.N), "<= 100 ms", fmt.Sprintf("%.0f ms", f.OverheadP50ms), f.OverheadP50ms <= 100)
		add(fmt.Sprintf("overhead p99 N=%d", f.N), "<= 500 ms", fmt.Sprintf("%.0f ms", f.OverheadP99ms), f.OverheadP99ms <= 500)
		add(fmt.Sprintf("Proxmox calls N=%d", f.N), "<= minimum + 10%", fmt.Sprintf("%.2f vs %.2f (+%.0f%%)", f.PVECallsPerRun, f.PVECallsMinimum, 100*(f.PVECallsPerRun/f.PVECallsMinimum-1)), f.PVECallsPerRun <= 1.1*f.PVECallsMinimum)
		if f.NodeLimitHolds != nil {
			add(fmt.Sprintf("per-node limit N=%d", f.N), fmt.Sprintf("worker's stop/DELETE calls in flight per node <= %d", f.NodeLimit), fmtNodes(f.NodePeaks.WorkerStopCalls), *f.NodeLimitHolds)
		}
	}
	add("history events", fmt.Sprintf("<= %d per successful run", maxHistoryEvents), fmt.Sprintf("max %d", r.HistoryEventsMax), r.HistoryEventsMax <= maxHistoryEvents)
	add("server + worker CPU", fmt.Sprintf("<= %.0f ms per run at N=%d", 1000*maxServerWorkerCPUS, big.N),
		fmt.Sprintf("%.1f ms (server %.1f, worker %.1f)", 1000*big.CPUSPerRun[serverPlusWorker], 1000*big.CPUSPerRun[procTemporal], 1000*big.CPUSPerRun[procWorker]),
		big.CPUSPerRun[serverPlusWorker] <= maxServerWorkerCPUS)
	add("starter CPU", fmt.Sprintf("<= %.0f ms per call (p50)", maxStarterCPUms), fmt.Sprintf("%.1f ms", r.Starter.CPUMsP50), r.Starter.CPUMsP50 <= maxStarterCPUms)
}

// The cost goals: history events of a successful run, the Temporal server's
// and the worker's CPU per termination in the largest fleet, the starter's
// CPU per click. (The starter's p99 above is measured while the runs the
// calls start keep the machine busy; BenchmarkTerminateClick in starter/
// measures it on an otherwise idle machine.)
const (
	maxHistoryEvents    = 30
	maxServerWorkerCPUS = 0.100
	maxStarterCPUms     = 15.0
)

// WriteJSON writes the report, creating the directory.
func (r *Report) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// PrintTable prints what a person reads.
func (r *Report) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("proxmox-terminate bench\t%s, %d CPUs, %s, commit %s", r.Environment.Date, r.Environment.CPUs, r.Environment.GoVersion, r.Environment.Commit)
	p("pacing\tguests stop after %.0f-%.0fs (uniform), poll %.1fs, task poll %.0fms, destroy %.1fs, API %.0f ms (task calls %.0f ms), %d backups + %d DNS records per VM, %d nodes",
		r.Pacing.GuestStopMinS, r.Pacing.GuestStopMaxS, r.Pacing.StopPollS, r.Pacing.TaskPollMs, r.Pacing.DestroyS, r.Pacing.PVELatencyMs, r.Pacing.PVETaskLatencyMs, r.Pacing.BackupsPerVM, r.Pacing.DNSRecordsPerVM, len(r.Pacing.Nodes))
	p("")
	p("starter (click → success)\tp50 %.0f ms\tp90 %.0f ms\tp99 %.0f ms\tmax %.0f ms\t(%d calls; CPU p50 %.0f ms; %.1f SQL statements, %.1f round trips, %.0f ms waiting for MariaDB per call)",
		r.Starter.P50ms, r.Starter.P90ms, r.Starter.P99ms, r.Starter.Maxms, r.Starter.Calls, r.Starter.CPUMsP50, r.Starter.SQLPerCall, r.Starter.SQLRoundTripsPerCall, r.Starter.SQLWaitMsPerCall)
	p("  during the calls\t%.1fs wall\t%.1f CPU-s idle\t%.1f CPU-s of other processes", r.Starter.WallS, r.Starter.MachineIdleS, r.Starter.OtherProcsCPUS)
	p("one termination alone\tmakespan %.2fs\tfloor %.2fs\toverhead %.0f ms\t(median of %d; %d history events, %.1f Proxmox calls vs minimum %.1f)",
		r.Single.MakespanS, r.Single.Floors, r.Single.OverheadMs, r.Single.Runs, r.Single.HistoryEvents, r.Single.PVECallsPerRun, r.Single.PVECallsMinimum)
	p("sequential sample\t%d runs in %.1fs\tmean run %.2fs\tmean overhead %.2fs", r.Sequential.SampleRuns, r.Sequential.SampleMakespanS, r.Sequential.MeanRunS, r.Sequential.MeanOverheadS)
	p("")
	// Columns: one run alone, then each fleet. Rows a lone run has no value for print "".
	alone := FleetResult{N: 1, MakespanS: r.Single.MakespanS, Breakdown: r.Single.Breakdown, Activities: r.Single.Activities,
		PVECalls: r.Single.PVECalls, PVECallsPerRun: r.Single.PVECallsPerRun, PVECallsMinimum: r.Single.PVECallsMinimum, PVECallsMinimumByRoute: r.Single.PVECallsMinimumByRoute,
		HistoryEventsMax: r.Single.HistoryEvents, HistoryEventsP50: r.Single.HistoryEvents, SQLPerRun: r.Single.SQLPerRun,
		Succeeded: r.Single.Runs - r.Single.Failed, Failed: r.Single.Failed}
	cols := append([]FleetResult{alone}, r.Fleets...)
	hdr := "\talone"
	for _, f := range r.Fleets {
		hdr += fmt.Sprintf("\tN=%d", f.N)
	}
	p("%s", hdr)
	row := func(name string, f func(FleetResult) string) {
		s := name
		for i, fl := range cols {
			v := f(fl)
			if i == 0 && fl.N == 1 && strings.HasPrefix(v, "!") {
				v = ""
			}
			s += "\t" + strings.TrimPrefix(v, "!")
		}
		p("%s", s)
	}
	// fleetOnly marks a value a lone run does not have.
	fleetOnly := func(f func(FleetResult) string) func(FleetResult) string {
		return func(fl FleetResult) string { return "!" + f(fl) }
	}
	row("succeeded / failed", func(f FleetResult) string { return fmt.Sprintf("%d / %d", f.Succeeded, f.Failed) })
	row("launch span", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.2fs (%s x%d)", f.LaunchSpanS, f.Launch, f.LaunchParallel)
	}))
	row("makespan (click → last run closed)", func(f FleetResult) string { return fmt.Sprintf("%.2fs", f.MakespanS) })
	row("makespan / one run", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.2fx", f.MakespanRatio) }))
	row("throughput", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.1f runs/s", f.ThroughputPerS) }))
	row("run p50 / p99", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.2fs / %.2fs", f.RunP50s, f.RunP99s) }))
	row("overhead p50 / p99 / max", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f ms", f.OverheadP50ms, f.OverheadP99ms, f.OverheadMaxms)
	}))
	for _, k := range fleetKeys(cols, func(f FleetResult) map[string]Dist { return f.Breakdown }) {
		row("  "+k+" p50/p99", func(f FleetResult) string {
			d := f.Breakdown[k]
			return fmt.Sprintf("%.0f / %.0f ms", d.P50, d.P99)
		})
	}
	for _, k := range fleetKeys(cols, func(f FleetResult) map[string]ActivityDist { return f.Activities }) {
		row("  "+k+" queued / ran p50", func(f FleetResult) string {
			d := f.Activities[k]
			return fmt.Sprintf("%.0f / %.0f ms", d.ScheduleToStart.P50, d.StartToClose.P50)
		})
	}
	row("Proxmox calls / run (minimum)", func(f FleetResult) string { return fmt.Sprintf("%.2f (%.2f)", f.PVECallsPerRun, f.PVECallsMinimum) })
	for _, k := range fleetKeys(cols, func(f FleetResult) map[string]float64 { return f.PVECalls },
		func(f FleetResult) map[string]float64 { return f.PVECallsMinimumByRoute }) {
		row("  "+k, func(f FleetResult) string {
			return fmt.Sprintf("%.2f (%.2f)", f.PVECalls[k], f.PVECallsMinimumByRoute[k])
		})
	}
	row("peak stop/DELETE calls in flight per node: worker", fleetOnly(func(f FleetResult) string { return fmtNodes(f.NodePeaks.WorkerStopCalls) }))
	row("  with the starter's clicks", fleetOnly(func(f FleetResult) string { return fmtNodes(f.NodePeaks.StopCalls) }))
	row("peak API calls in flight per node", fleetOnly(func(f FleetResult) string { return fmtNodes(f.NodePeaks.Calls) }))
	row("peak running stop/destroy tasks per node", fleetOnly(func(f FleetResult) string { return fmtNodes(f.NodePeaks.Tasks) }))
	row("history events p50 / max", func(f FleetResult) string { return fmt.Sprintf("%d / %d", f.HistoryEventsP50, f.HistoryEventsMax) })
	row("SQL statements / run (worker+starter)", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.1f (%.1f+%.1f; %.1f round trips)", f.SQLPerRun, f.SQLWorkerPerRun, f.SQLStarterPerRun, f.SQLRoundTripsPerRun)
	}))
	kinds := map[string]float64{}
	for _, f := range r.Fleets {
		for k, v := range f.SQLByKind {
			kinds[k] = max(kinds[k], v)
		}
	}
	kk := make([]string, 0, len(kinds))
	for k := range kinds {
		kk = append(kk, k)
	}
	sort.Slice(kk, func(i, j int) bool {
		return kinds[kk[i]] > kinds[kk[j]] || kinds[kk[i]] == kinds[kk[j]] && kk[i] < kk[j]
	})
	for _, k := range kk {
		row("  "+k+" (mean ms)", fleetOnly(func(f FleetResult) string {
			return fmt.Sprintf("%.2f (%.1f)", f.SQLByKind[k], f.SQLMeanMsByKind[k])
		}))
	}
	row("SQL wait per run: worker / launcher", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.0f / %.0f ms", f.SQLWorkerWaitMsPerRun, f.SQLStarterWaitMsPerRun)
	}))
	row("PowerDNS reads / writes per run", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.1f / %.1f (writes queued %.1fs in all, max %.0f ms)", float64(f.DNS.Reads)/float64(f.N), float64(f.DNS.Writes)/float64(f.N), f.DNS.WriteWaitSumS, f.DNS.WriteWaitMaxS*1000)
	}))
	row("Temporal persistence (SQLite) calls / time", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.0f / %.1fs (mean %.2f ms)", f.Temporal.PersistenceRequests, f.Temporal.PersistenceS, f.Temporal.PersistenceMeanMs)
	}))
	row("Temporal shard IO semaphore / shard lock wait", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.1fs / %.1fs", f.Temporal.ShardIOSemaphoreS, f.Temporal.ShardLockS)
	}))
	row("re-queue schedule passes / extra runs", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%d / %d", f.ReconcilePasses, f.ExtraRuns) }))
	row("worker RSS idle → peak", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%d → %d MiB", f.WorkerIdleRSSKB/1024, f.WorkerPeakRSSKB/1024)
	}))
	row("worker RSS per in-flight run", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.0f KiB", f.WorkerRSSKBPerRun) }))
	for _, k := range fleetKeys(r.Fleets, func(f FleetResult) map[string]float64 { return f.CPUSeconds }) {
		row("CPU s: "+k, fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.1f", f.CPUSeconds[k]) }))
	}
	for _, k := range fleetKeys(r.Fleets, func(f FleetResult) map[string]float64 { return f.CPUSPerRun }) {
		row("CPU ms / run: "+k, fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.1f", f.CPUSPerRun[k]*1000) }))
	}
	row("durability CPU ratio (server + worker / baseline, per run)", fleetOnly(func(f FleetResult) string {
		if f.DurabilityCPURatio == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fx", f.DurabilityCPURatio)
	}))
	row("CPU s: other processes on the machine", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.1f", f.OtherProcsCPUS) }))
	row("CPU s: machine idle (of 2 x makespan)", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.1f", f.MachineIdleS) }))
	row("load average at start / end", fleetOnly(func(f FleetResult) string { return fmt.Sprintf("%.1f / %.1f", f.LoadAvgStart, f.LoadAvgEnd) }))
	row("sequential (estimated)", fleetOnly(func(f FleetResult) string {
		return fmt.Sprintf("%.0fs = %.0fx slower", f.SequentialMakespanEstS, f.SequentialRatio)
	}))
	p("")
	r.printBaseline(p)
	p("target\tgoal\tmeasured\tmet")
	for _, t := range r.Targets {
		met := "yes"
		if !t.Met {
			met = "NO"
		}
		p("%s\t%s\t%s\t%s", t.Name, t.Goal, t.Measured, met)
	}
	tw.Flush()
}

// printBaseline prints the bare baselines next to their fleets' numbers.
func (r *Report) printBaseline(p func(format string, args ...any)) {
	if r.Baseline == nil || len(r.Baseline.Fleets) == 0 {
		return
	}
	bs := r.Baseline.Fleets
	hdr := "baseline: the same terminations, a plain loop without Temporal"
	for _, b := range bs {
		hdr += fmt.Sprintf("\tN=%d", b.N)
	}
	p("%s", hdr)
	row := func(name string, f func(BaselineResult) string) {
		s := name
		for _, b := range bs {
			s += "\t" + f(b)
		}
		p("%s", s)
	}
	keys := func(field func(BaselineResult) map[string]float64) []string {
		set := map[string]bool{}
		for _, b := range bs {
			for k := range field(b) {
				set[k] = true
			}
		}
		return slices.Sorted(maps.Keys(set))
	}
	row("succeeded / failed", func(b BaselineResult) string { return fmt.Sprintf("%d / %d", b.Succeeded, b.Failed) })
	row("makespan (first start → last end)", func(b BaselineResult) string { return fmt.Sprintf("%.2fs", b.MakespanS) })
	row("run p50 / p99", func(b BaselineResult) string { return fmt.Sprintf("%.2fs / %.2fs", b.RunP50s, b.RunP99s) })
	row("overhead p50 / p99", func(b BaselineResult) string {
		return fmt.Sprintf("%.0f / %.0f ms", b.OverheadP50ms, b.OverheadP99ms)
	})
	row("Proxmox calls / run (fleet: all; its worker's)", func(b BaselineResult) string {
		return fmt.Sprintf("%.2f (%.2f; %.2f)", b.PVECallsPerRun, b.FleetPVECallsPerRun, b.FleetPVECallsWorkerPerRun)
	})
	fleetOf := func(n int) FleetResult {
		for _, f := range r.Fleets {
			if f.N == n {
				return f
			}
		}
		return FleetResult{}
	}
	for _, k := range keys(func(b BaselineResult) map[string]float64 { return b.PVECalls }) {
		row("  "+k+" (fleet)", func(b BaselineResult) string {
			return fmt.Sprintf("%.2f (%.2f)", b.PVECalls[k], fleetOf(b.N).PVECalls[k])
		})
	}
	row("SQL statements / run (fleet's worker)", func(b BaselineResult) string {
		return fmt.Sprintf("%.1f (%.1f; %.1f round trips)", b.SQLPerRun, b.FleetSQLWorkerPerRun, b.SQLRoundTripsPerRun)
	})
	for _, k := range keys(func(b BaselineResult) map[string]float64 { return b.SQLByKind }) {
		row("  "+k+" (fleet's worker)", func(b BaselineResult) string {
			return fmt.Sprintf("%.2f (%.2f)", b.SQLByKind[k], fleetOf(b.N).SQLWorkerByKind[k])
		})
	}
	row("PowerDNS reads / writes per run", func(b BaselineResult) string {
		return fmt.Sprintf("%.1f / %.1f", float64(b.DNS.Reads)/float64(b.N), float64(b.DNS.Writes)/float64(b.N))
	})
	for _, k := range keys(func(b BaselineResult) map[string]float64 { return b.CPUSPerRun }) {
		row("CPU ms / run: "+k, func(b BaselineResult) string { return fmt.Sprintf("%.1f", b.CPUSPerRun[k]*1000) })
	}
	row("CPU ms / run: the fleet's server + worker", func(b BaselineResult) string {
		return fmt.Sprintf("%.1f", b.FleetServerPlusWorkerCPUSPerRun*1000)
	})
	row("durability CPU ratio (fleet's server + worker / baseline)", func(b BaselineResult) string {
		return fmt.Sprintf("%.1fx", b.DurabilityCPURatio)
	})
	row("  the fleet's worker alone / baseline", func(b BaselineResult) string { return fmt.Sprintf("%.1fx", b.WorkerCPURatio) })
	row("CPU s: other processes / machine idle", func(b BaselineResult) string {
		return fmt.Sprintf("%.1f / %.1f", b.OtherProcsCPUS, b.MachineIdleS)
	})
	for _, b := range bs {
		for _, e := range b.Errors {
			p("  N=%d error\t%s", b.N, e)
		}
	}
	p("")
}

func fmtNodes(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// fleetKeys is the sorted union of the keys of the maps fields picks from
// the fleets.
func fleetKeys[V any](fleets []FleetResult, fields ...func(FleetResult) map[string]V) []string {
	keys := map[string]bool{}
	for _, f := range fleets {
		for _, field := range fields {
			for k := range field(f) {
				keys[k] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(keys))
}
