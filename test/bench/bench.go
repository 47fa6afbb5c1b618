// Package bench is the end-to-end benchmark of proxmox-terminate (`make
// bench`): the real Temporal dev server, MariaDB, PowerDNS, the Proxmox
// simulator, the worker and starter binaries, with compressed timings that
// keep the stop phase dominant. See README.md for what it measures and how.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// Options configure a bench run.
type Options struct {
	Ns             []int         // concurrent fleet sizes (default 100, 1000)
	StarterCalls   int           // starter latency sample (default 200)
	SingleRuns     int           // lone terminations; the median is reported (default 3)
	SeqSample      int           // sequential baseline sample size cap (default 20)
	Warmup         int           // unmeasured runs first (default 2)
	Launch         string        // how fleet runs are clicked: "direct" (the starter's steps in-process) or "starter" (the binary)
	LaunchParallel int           // concurrent clicks while launching a fleet (default 32 direct, 4 starter)
	StopMin        time.Duration // guests stop after a uniform random delay in [StopMin, StopMax]
	StopMax        time.Duration
	Destroy        time.Duration // qmdestroy task duration
	PVELatency     time.Duration // every simulated API call answers after this long (pveproxy → pvedaemon)
	PVETaskLatency time.Duration // shutdown, stop and DELETE calls (they fork a worker) answer after this long
	ImgDel         time.Duration // backup volume deletion task duration
	Timing         pipeline.Timing
	Seed           int64
	TemporalCLI    string
	TemporalDB     string   // non-empty: the dev server persists to a SQLite file instead of memory
	Sets           []string // config overrides "key.path=value" for both config files
	NodeLimit      int      // the per-node limit the config sets (checked against the peaks); 0: none
	DSNParams      map[string]string
	// InterpolateParams sets go-sql-driver's interpolateParams=true in the
	// DSN of both config files (an experiment: one round trip per statement).
	InterpolateParams bool
	WorkerEnv         []string      // extra environment for the worker (GOGC=..., GOMAXPROCS=...)
	WorkerPkg         string        // the worker's package (default ./worker): point it at a patched copy to measure a change
	PhaseTimeout      time.Duration // how long a fleet may take before the bench gives up (default 10m)
	Quick             bool
	// NoBaseline skips the bare baseline after each fleet (the same
	// terminations by a plain loop without Temporal; see baseline.go).
	NoBaseline bool
	Keep       bool   // keep the scratch directory (configs, worker logs)
	PerfDir    string // non-empty: perf profiles of the starter, the worker and the dev server go here
	Logf       func(format string, args ...any)
}

// BenchTiming is the compressed pacing: production's order and ratios
// (poll 5s → 1s, task poll 2s → 500ms, stop window 120s → 30s) with the stop
// phase dominant.
func BenchTiming() pipeline.Timing {
	return pipeline.Timing{
		StopPoll: time.Second, StopWindow: 30 * time.Second, ProgressEvery: 5 * time.Second,
		ForceWindow: 10 * time.Second, TaskPoll: 500 * time.Millisecond, DeleteTaskWindow: time.Minute,
		DeleteAttempts: 3, DeleteBackoff: time.Second, BackupsWindow: time.Minute, DNSWindow: time.Minute,
	}
}

// Defaults fills zero fields.
func (o Options) Defaults() Options {
	if len(o.Ns) == 0 {
		o.Ns = []int{100, 1000}
	}
	if o.StarterCalls == 0 {
		o.StarterCalls = 200
	}
	if o.SingleRuns == 0 {
		o.SingleRuns = 3
	}
	if o.SeqSample == 0 {
		o.SeqSample = 20
	}
	if o.Warmup == 0 {
		o.Warmup = 2
	}
	if o.Launch == "" {
		o.Launch = "direct"
	}
	if o.LaunchParallel == 0 {
		o.LaunchParallel = 32
		if o.Launch == "starter" {
			o.LaunchParallel = 4
		}
	}
	if o.StopMin == 0 {
		o.StopMin = 2 * time.Second
	}
	if o.StopMax == 0 {
		o.StopMax = 10 * time.Second
	}
	if o.Destroy == 0 {
		o.Destroy = time.Second
	}
	if o.PVELatency < 0 {
		o.PVELatency = 0
	}
	if o.PVETaskLatency < 0 {
		o.PVETaskLatency = 0
	}
	if o.Timing == (pipeline.Timing{}) {
		o.Timing = BenchTiming()
	}
	o.Timing = o.Timing.WithDefaults()
	if o.Seed == 0 {
		o.Seed = 7
	}
	if o.PhaseTimeout == 0 {
		o.PhaseTimeout = 10 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Backup storages and backups per VM (stack.AddVMWithBackups: one on the
// node's "local", one on the shared "pbs"), and DNS records per VM (A,
// AAAA, two PTRs).
const (
	backupStoragesPerVM = 2
	backupsPerVM        = 2
	dnsRecordsPerVM     = 4
)

var nodes = []string{"pve1", "pve2"}

type runner struct {
	o      Options
	e      *env
	rng    *rand.Rand
	nextID int
}

// svc is one seeded service: a WHMCS row, a running VM with backups, and
// DNS records.
type svc struct {
	ID, VMID             int
	Node, FQDN, IP4, IP6 string
	Stop                 time.Duration
}

// Run runs the whole benchmark and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.Defaults()
	rep := &Report{Pacing: pacingOf(o), Environment: environment(o)}
	e, err := startEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep.Environment.MariaDB = e.mariadbVersion()
	r := &runner{o: o, e: e, rng: rand.New(rand.NewSource(o.Seed)), nextID: 4096}

	if rep.Starter, err = r.starterPhase(ctx); err != nil {
		return nil, fmt.Errorf("starter phase: %w", err)
	}
	if rep.Single, rep.Sequential, err = r.singleAndSequential(ctx); err != nil {
		return nil, fmt.Errorf("single/sequential phase: %w", err)
	}
	if !o.NoBaseline {
		rep.Baseline = &BaselineReport{Method: baselineMethod}
	}
	for _, n := range o.Ns {
		fr, stops, err := r.fleet(ctx, n, rep.Single.MakespanS, rep.Sequential)
		if err != nil {
			return nil, fmt.Errorf("fleet of %d: %w", n, err)
		}
		if rep.Baseline != nil {
			b, err := r.baseline(ctx, fr, stops)
			if err != nil {
				return nil, fmt.Errorf("baseline of %d: %w", n, err)
			}
			fr.DurabilityCPURatio = b.DurabilityCPURatio
			rep.Baseline.Fleets = append(rep.Baseline.Fleets, b)
		}
		rep.Fleets = append(rep.Fleets, fr)
	}
	rep.summarize(o)
	return rep, nil
}

// randomStop draws a guest's shutdown time.
func (r *runner) randomStop() time.Duration {
	span := r.o.StopMax - r.o.StopMin
	if span <= 0 {
		return r.o.StopMin
	}
	d := r.o.StopMin + time.Duration(r.rng.Int63n(int64(span)+1))
	return d.Round(time.Millisecond)
}

// seed creates n services whose guests stop after stop(i). IDs of a batch
// start on a multiple of 256, so that each batch has its own DNS zones.
func (r *runner) seed(ctx context.Context, n int, stop func(i int) time.Duration) ([]svc, error) {
	r.nextID = (r.nextID + 255) / 256 * 256
	out := make([]svc, n)
	for i := range out {
		id := r.nextID
		r.nextID++
		g := id >> 8
		out[i] = svc{
			ID: id, VMID: id, Node: nodes[i%len(nodes)],
			FQDN: fmt.Sprintf("s%d.g%d.bench.test", id, g),
			IP4:  fmt.Sprintf("10.%d.%d.%d", id>>16&255, id>>8&255, id&255),
			IP6:  fmt.Sprintf("2001:db8:%x::%x", g, id&255+1),
			Stop: stop(i),
		}
	}
	// Simulator.
	for _, s := range out {
		if err := stack.AddVMWithBackups(r.e.sim, s.Node, s.VMID, s.FQDN, s.Stop); err != nil {
			return nil, err
		}
	}
	// Database, 8 at a time.
	if err := forEach(n, 8, func(i int) error {
		s := out[i]
		return stack.Seed(ctx, r.e.store, stack.Service{ID: s.ID, UserID: s.ID + 500000, Domain: s.FQDN,
			DedicatedIP: s.IP4, AssignedIPs: s.IP6 + "\n", VMID: s.VMID, Node: s.Node, VMName: s.FQDN})
	}); err != nil {
		return nil, fmt.Errorf("seed database: %w", err)
	}
	// DNS: per group of 256 ids a forward zone, an in-addr.arpa /24 and an ip6.arpa /48.
	groups := map[int][]svc{}
	for _, s := range out {
		groups[s.ID>>8] = append(groups[s.ID>>8], s)
	}
	rr := func(name, typ, content string) powerdns.RRset {
		return powerdns.RRset{Name: name, Type: typ, TTL: 300, Records: []powerdns.Record{{Content: content}}}
	}
	for g, list := range groups {
		var fwd, rev4, rev6 []powerdns.RRset
		for _, s := range list {
			fwd = append(fwd, rr(s.FQDN+".", "A", s.IP4), rr(s.FQDN+".", "AAAA", s.IP6))
			rev4 = append(rev4, rr(dns.ReverseName(netip.MustParseAddr(s.IP4)), "PTR", s.FQDN+"."))
			rev6 = append(rev6, rr(dns.ReverseName(netip.MustParseAddr(s.IP6)), "PTR", s.FQDN+"."))
		}
		fwd = append(fwd, rr(fmt.Sprintf("keep.g%d.bench.test.", g), "A", "198.51.100.1"))
		id := list[0].ID
		zones := []struct {
			name   string
			rrsets []powerdns.RRset
		}{
			{fmt.Sprintf("g%d.bench.test", g), fwd},
			{fmt.Sprintf("%d.%d.10.in-addr.arpa", id>>8&255, id>>16&255), rev4},
			{reverse48(g) + "8.b.d.0.1.0.0.2.ip6.arpa", rev6},
		}
		for _, z := range zones {
			if err := r.e.pdns.CreateZone(z.name, z.rrsets...); err != nil {
				return nil, fmt.Errorf("DNS zone %s: %w", z.name, err)
			}
		}
	}
	return out, nil
}

// reverse48 is the nibble labels of the third hextet of 2001:db8:h::/48.
func reverse48(h int) string {
	x := fmt.Sprintf("%04x", h&0xffff)
	var b strings.Builder
	for i := 3; i >= 0; i-- {
		b.WriteByte(x[i])
		b.WriteByte('.')
	}
	return b.String()
}

// phase is one worker process on its own task queue.
type phase struct {
	queue                 string
	workerCfg, starterCfg string
	w                     *workerProc
	idleRSS               int
	launcher              *directLauncher
}

func (r *runner) startPhase(ctx context.Context, name string) (*phase, error) {
	p := &phase{queue: fmt.Sprintf("bench-%s-%s", name, randHex(3))}
	var err error
	if p.workerCfg, p.starterCfg, err = r.e.writeConfigs(p.queue); err != nil {
		return nil, err
	}
	if p.w, err = r.e.startWorker(ctx, p.workerCfg, p.queue); err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond) // let the pollers settle before reading the idle RSS
	if st, ok := ReadProc(p.w.pid()); ok {
		p.idleRSS = st.RSSKB
	}
	return p, nil
}

func (r *runner) endPhase(p *phase) {
	p.w.stop()
	r.e.worker = nil
	// The worker creates a re-queue schedule per task queue; this queue is done.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.e.tc.ScheduleClient().GetHandle(ctx, app.ScheduleID(p.queue)).Delete(ctx)
}

// clickStarter runs the starter binary as the billing panel does and
// returns its wall time and CPU time.
func (r *runner) clickStarter(ctx context.Context, p *phase, s svc) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, r.e.starterBin, "terminate", "--service-id", strconv.Itoa(s.ID), "--config", p.starterCfg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil || out.String() != "success\n" {
		return wall, cpu, fmt.Errorf("starter terminate --service-id %d: %v: stdout %q stderr %q", s.ID, err, out.String(), strings.TrimSpace(errb.String()))
	}
	return wall, cpu, nil
}

// directLauncher does what `starter terminate` does — read the service,
// check the VM's identity and send the fire-and-forget graceful shutdown
// (two Proxmox calls, module-logged), set vm_status, start the workflow —
// in-process, so that a fleet's clicks are not serialized on process start.
type directLauncher struct {
	r     *runner
	cfg   *config.Config
	pve   *pve.Client
	store *dbmodel.Store
}

func (r *runner) newDirectLauncher(p *phase) (*directLauncher, error) {
	cfg, err := config.Load(p.starterCfg)
	if err != nil {
		return nil, err
	}
	ml := activities.ModuleLog{Store: r.e.lStore, Secrets: cfg.Secrets()}
	c, err := pve.New(cfg.Proxmox[0], ml.PVEObserver())
	if err != nil {
		return nil, err
	}
	return &directLauncher{r: r, cfg: cfg, pve: c, store: r.e.lStore}, nil
}

// click mirrors starter/session.go terminate(): keep them in step.
func (d *directLauncher) click(ctx context.Context, s svc) (runID string, err error) {
	svcRow, err := d.store.LoadService(ctx, s.ID)
	if err != nil {
		return "", err
	}
	if svcRow.VM.VMStatus == dbmodel.StatusRemove {
		return "", fmt.Errorf("service %d already removed", s.ID)
	}
	desc, err := d.r.e.tc.DescribeWorkflow(ctx, pipeline.WorkflowID(s.ID), "")
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return "", err
	}
	if err == nil && desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", fmt.Errorf("service %d: a run is already open", s.ID)
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := d.pve.VMConfig(sctx, svcRow.VM.Node, svcRow.VM.VMID); err == nil {
		_, _ = d.pve.Shutdown(sctx, svcRow.VM.Node, svcRow.VM.VMID, int(d.cfg.Timing.StopWindow/time.Second))
	}
	cancel()
	if err := d.store.SetStatus(ctx, s.ID, dbmodel.StatusTerminate); err != nil {
		return "", err
	}
	vm := svcRow.VM
	run, err := d.r.e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: pipeline.WorkflowID(s.ID), TaskQueue: d.cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			pipeline.SAServiceID.ValueSet(int64(s.ID)), pipeline.SAVmID.ValueSet(int64(vm.VMID)),
			pipeline.SANode.ValueSet(vm.Node), pipeline.SAVmStatus.ValueSet(dbmodel.StatusTerminate)),
	}, pipeline.WorkflowName, pipeline.Input{ServiceID: s.ID, Timing: d.cfg.Timing})
	if err != nil {
		return "", err
	}
	return run.GetRunID(), nil
}

// count counts workflow executions matching a visibility query.
func (r *runner) count(ctx context.Context, q string) (int64, error) {
	resp, err := r.e.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// waitClosed waits until no workflow of the queue runs and n have closed.
func (r *runner) waitClosed(ctx context.Context, queue string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.PhaseTimeout)
	defer cancel()
	count := func(q string) (int64, error) { return r.count(ctx, q) }
	for {
		q := fmt.Sprintf("WorkflowType = '%s' AND TaskQueue = '%s'", pipeline.WorkflowName, queue)
		closed, err := count(q + " AND ExecutionStatus != 'Running'")
		if err != nil {
			return fmt.Errorf("count workflows: %w", err)
		}
		running, err := count(q + " AND ExecutionStatus = 'Running'")
		if err != nil {
			return fmt.Errorf("count workflows: %w", err)
		}
		if closed >= int64(n) && running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d runs closed (%d running) after %s", closed, n, running, r.o.PhaseTimeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// actTiming is one activity of a run's history.
type actTiming struct {
	Name                 string
	Sched, Started, Done time.Time
	Attempt              int32
	Failed               bool
}

// runHist is what a run's history says.
type runHist struct {
	Events     int
	Types      map[string]int
	Start      time.Time
	Close      time.Time
	CloseType  string
	Acts       []*actTiming
	WFTasks    int
	WFTQueued  []time.Duration // per workflow task: scheduled → started (matching + poll)
	WFTRan     []time.Duration // started → completed (the worker's processing + round trip)
	Retries    int
	Successful bool
}

func (r *runner) history(ctx context.Context, serviceID int, runID string) (runHist, error) {
	h := runHist{Types: map[string]int{}}
	it := r.e.tc.GetWorkflowHistory(ctx, pipeline.WorkflowID(serviceID), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	byID := map[int64]*actTiming{}
	var wftSched, wftStart time.Time
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, err
		}
		h.Events++
		t := ev.GetEventTime().AsTime()
		typ := ev.GetEventType()
		h.Types[strings.TrimPrefix(typ.String(), "EVENT_TYPE_")]++
		switch typ {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			h.Start = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			wftSched = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			wftStart = t
			h.WFTQueued = append(h.WFTQueued, t.Sub(wftSched))
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			h.WFTasks++
			h.WFTRan = append(h.WFTRan, t.Sub(wftStart))
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := &actTiming{Name: ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), Sched: t}
			byID[ev.GetEventId()] = a
			h.Acts = append(h.Acts, a)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			at := ev.GetActivityTaskStartedEventAttributes()
			if a := byID[at.GetScheduledEventId()]; a != nil {
				a.Started, a.Attempt = t, at.GetAttempt()
				if a.Attempt > 1 {
					h.Retries += int(a.Attempt - 1)
				}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if a := byID[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; a != nil {
				a.Done = t
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			var sid int64
			if fa := ev.GetActivityTaskFailedEventAttributes(); fa != nil {
				sid = fa.GetScheduledEventId()
			} else {
				sid = ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
			}
			if a := byID[sid]; a != nil {
				a.Done, a.Failed = t, true
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			h.Close, h.CloseType = t, strings.TrimPrefix(typ.String(), "EVENT_TYPE_")
			h.Successful = typ == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED && outcomeTerminated(ev)
		}
	}
	return h, nil
}

func outcomeTerminated(ev *historypb.HistoryEvent) bool {
	p := ev.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()
	return len(p) == 1 && bytes.Contains(p[0].GetData(), []byte(`"outcome":"terminated"`))
}

// histories fetches the runs' histories, 8 at a time.
func (r *runner) histories(ctx context.Context, svcs []svc, runIDs []string) ([]runHist, error) {
	out := make([]runHist, len(svcs))
	err := forEach(len(svcs), 8, func(i int) (err error) {
		out[i], err = r.history(ctx, svcs[i].ID, runIDs[i])
		return err
	})
	return out, err
}

// ---------------------------------------------------------------- phases

func (r *runner) starterPhase(ctx context.Context) (StarterResult, error) {
	res := StarterResult{Calls: r.o.StarterCalls}
	p, err := r.startPhase(ctx, "starter")
	if err != nil {
		return res, err
	}
	defer r.endPhase(p)

	r.o.Logf("warm-up: %d runs", r.o.Warmup)
	warm, err := r.seed(ctx, r.o.Warmup, func(int) time.Duration { return r.o.StopMin })
	if err != nil {
		return res, err
	}
	for _, s := range warm {
		if _, _, err := r.clickStarter(ctx, p, s); err != nil {
			return res, err
		}
	}
	if err := r.waitClosed(ctx, p.queue, len(warm)); err != nil {
		return res, err
	}

	svcs, err := r.seed(ctx, r.o.StarterCalls, func(int) time.Duration { return r.randomStop() })
	if err != nil {
		return res, err
	}
	r.o.Logf("starter latency: %d calls of the starter binary, one after another (each starts a real termination)", len(svcs))
	sql0 := r.e.sProxy.Snapshot()
	own := map[string]int{"worker": p.w.pid(), "temporal": r.e.temporal.Proc.Pid(), "pdns_server": r.e.pdns.pid(), "bench": os.Getpid()}
	if ps := FindProcs("mariadbd", 0); len(ps) > 0 {
		own["mariadbd"] = ps[0]
	}
	cpu := NewCPUMeter(own)
	busy0, idle0 := machineCPU()
	t0 := time.Now()
	var walls, cpus []float64
	for _, s := range svcs {
		wall, cpu, err := r.clickStarter(ctx, p, s)
		if err != nil {
			return res, err
		}
		walls = append(walls, ms(wall))
		cpus = append(cpus, ms(cpu))
	}
	sql := r.e.sProxy.Snapshot().Sub(sql0)
	busy1, idle1 := machineCPU()
	var ours float64
	for _, v := range cpu.Used() {
		ours += v
	}
	res.WallS, res.MachineIdleS = round1(time.Since(t0).Seconds()), round1(idle1-idle0)
	var starters float64
	for _, c := range cpus {
		starters += c / 1000
	}
	res.OtherProcsCPUS = round1(busy1 - busy0 - ours - starters)
	res.P50ms, res.P90ms, res.P99ms, res.Maxms = round1(Percentile(walls, 50)), round1(Percentile(walls, 90)), round1(Percentile(walls, 99)), round1(Max(walls))
	res.MeanMs = round1(Mean(walls))
	res.CPUMsP50 = round1(Percentile(cpus, 50))
	res.SQLPerCall = round2(float64(sql.Statements) / float64(len(svcs)))
	res.SQLRoundTripsPerCall = round2(float64(sql.RoundTrips) / float64(len(svcs)))
	res.SQLByKind = perRun(sql.ByKind, len(svcs))
	res.SQLWaitMsPerCall = round1(ms(sql.Wait) / float64(len(svcs)))
	r.o.Logf("starter: p50 %.0f ms, p99 %.0f ms; waiting for the %d runs to finish", res.P50ms, res.P99ms, len(svcs))
	extra := 0
	if r.o.PerfDir != "" {
		// Ten more clicks under perf (not in the latency sample: perf slows them).
		prof, err := r.seed(ctx, 10, func(int) time.Duration { return r.randomStop() })
		if err != nil {
			return res, err
		}
		var script []string
		for _, s := range prof {
			script = append(script, fmt.Sprintf("%s terminate --service-id %d --config %s >/dev/null", r.e.starterBin, s.ID, p.starterCfg))
		}
		data := r.o.PerfDir + "/starter.data"
		cmd := exec.CommandContext(ctx, "perf", "record", "-q", "-F", "2999", "-g", "-o", data, "--", "sh", "-c", strings.Join(script, "; "))
		if out, err := cmd.CombinedOutput(); err != nil {
			return res, fmt.Errorf("perf record of the starter: %v\n%s", err, out)
		}
		perfReport(data)
		extra = len(prof)
	}
	if err := r.waitClosed(ctx, p.queue, len(warm)+len(svcs)+extra); err != nil {
		return res, err
	}
	return res, nil
}

func (r *runner) singleAndSequential(ctx context.Context) (SingleResult, SequentialResult, error) {
	var single SingleResult
	var seq SequentialResult
	p, err := r.startPhase(ctx, "single")
	if err != nil {
		return single, seq, err
	}
	defer r.endPhase(p)

	// One termination alone, the slowest guest of the distribution.
	r.o.Logf("single: %d lone terminations (guest stops after %s)", r.o.SingleRuns, r.o.StopMax)
	single.Floors = round2((r.o.StopMax + r.o.Destroy).Seconds())
	var spans []float64
	calls0 := r.e.sim.Calls()
	wsql0, ssql0 := r.e.wProxy.Snapshot(), r.e.sProxy.Snapshot()
	var singles []svc
	var clicks []time.Time
	var runIDs []string
	for i := 0; i < r.o.SingleRuns; i++ {
		s, err := r.seed(ctx, 1, func(int) time.Duration { return r.o.StopMax })
		if err != nil {
			return single, seq, err
		}
		click, runID, err := r.clickAndWait(ctx, p, s[0])
		if err != nil {
			return single, seq, err
		}
		singles, clicks, runIDs = append(singles, s[0]), append(clicks, click), append(runIDs, runID)
	}
	hs, err := r.histories(ctx, singles, runIDs)
	if err != nil {
		return single, seq, err
	}
	for i, h := range hs {
		spans = append(spans, h.Close.Sub(clicks[i]).Seconds())
		single.HistoryEvents = max(single.HistoryEvents, h.Events)
	}
	sa := r.analyze(singles, clicks, hs)
	single.Failed = sa.failed
	single.Breakdown, single.Activities = sa.breakdown(), sa.activities()
	single.Runs = len(spans)
	single.MakespanS = round2(median(spans))
	single.MakespansS = roundAll(spans)
	single.OverheadMs = round1((single.MakespanS - single.Floors) * 1000)
	single.PVECalls = perRunCalls(diffCalls(r.e.sim.Calls(), calls0), len(singles))
	single.PVECallsPerRun = sumCalls(single.PVECalls)
	smc := r.minimumCalls(singles, clicks, hs)
	single.PVECallsMinimum, single.PVECallsMinimumByRoute = smc.Total, smc.ByRoute
	single.SQLPerRun = round2(float64(r.e.wProxy.Snapshot().Sub(wsql0).Statements+r.e.sProxy.Snapshot().Sub(ssql0).Statements) / float64(len(singles)))
	r.o.Logf("single: makespan %.2fs (floor %.2fs)", single.MakespanS, single.Floors)

	// The vendor's model: one termination after another.
	maxN := 0
	for _, n := range r.o.Ns {
		maxN = max(maxN, n)
	}
	sample := min(maxN, r.o.SeqSample)
	r.o.Logf("sequential baseline: %d runs one after another", sample)
	svcs, err := r.seed(ctx, sample, func(int) time.Duration { return r.randomStop() })
	if err != nil {
		return single, seq, err
	}
	start := time.Now()
	clicks, runIDs = clicks[:0], runIDs[:0]
	for _, s := range svcs {
		click, runID, err := r.clickAndWait(ctx, p, s)
		if err != nil {
			return single, seq, err
		}
		clicks, runIDs = append(clicks, click), append(runIDs, runID)
	}
	seq.SampleRuns = sample
	seq.SampleMakespanS = round2(time.Since(start).Seconds())
	hs, err = r.histories(ctx, svcs, runIDs)
	if err != nil {
		return single, seq, err
	}
	var per, over []float64
	for i, h := range hs {
		per = append(per, h.Close.Sub(clicks[i]).Seconds())
		over = append(over, h.Close.Sub(clicks[i]).Seconds()-(svcs[i].Stop+r.o.Destroy).Seconds())
	}
	seq.MeanRunS = round2(Mean(per))
	seq.MeanOverheadS = round2(Mean(over))
	seq.Method = fmt.Sprintf("measured: %d terminations one after another (starter binary, each waits for the previous run to close; guests stop after uniform %s-%s); "+
		"extrapolated per fleet: sum over the fleet's own VMs of (guest stop + destroy) + N x the sample's mean per-run overhead (%.2fs); "+
		"linear alternative: N x the sample's mean run (%.2fs)", sample, r.o.StopMin, r.o.StopMax, seq.MeanOverheadS, seq.MeanRunS)
	r.o.Logf("sequential: mean run %.2fs, mean overhead %.2fs", seq.MeanRunS, seq.MeanOverheadS)
	return single, seq, nil
}

// clickAndWait clicks through the starter binary and waits for the run it
// started to close.
func (r *runner) clickAndWait(ctx context.Context, p *phase, s svc) (time.Time, string, error) {
	click := time.Now()
	if _, _, err := r.clickStarter(ctx, p, s); err != nil {
		return click, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, r.o.PhaseTimeout)
	defer cancel()
	// The run the click started is the current one right after it.
	d, err := r.e.tc.DescribeWorkflow(wctx, pipeline.WorkflowID(s.ID), "")
	if err != nil {
		return click, "", err
	}
	runID := d.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var res pipeline.Result
	if err := r.e.tc.GetWorkflow(wctx, pipeline.WorkflowID(s.ID), runID).Get(wctx, &res); err != nil {
		return click, runID, fmt.Errorf("run of service %d: %w", s.ID, err)
	}
	return click, runID, nil
}

// analysis is what the histories of a set of runs say about their overhead.
type analysis struct {
	over, e2e, evs   []float64 // successful runs only: overhead (ms), click to close (s), history events
	bd               map[string][]float64
	actSched, actRun map[string][]float64
	failed, retries  int
	first, last      time.Time
	typesOfMax       map[string]int
	wftByIndex       [][]float64 // queue time (ms) of each run's k-th workflow task
}

// analyze splits each run's time from click to close: the floor (guest
// stop + destroy task) and the overhead, by where it goes.
func (r *runner) analyze(svcs []svc, clicks []time.Time, hs []runHist) analysis {
	a := analysis{bd: map[string][]float64{}, actSched: map[string][]float64{}, actRun: map[string][]float64{}}
	maxEv := -1
	for i, h := range hs {
		if a.first.IsZero() || clicks[i].Before(a.first) {
			a.first = clicks[i]
		}
		if h.Close.After(a.last) {
			a.last = h.Close
		}
		if !h.Successful {
			a.failed++
			continue
		}
		s := svcs[i]
		floor := s.Stop + r.o.Destroy
		d := h.Close.Sub(clicks[i])
		a.e2e = append(a.e2e, d.Seconds())
		a.over = append(a.over, ms(d-floor))
		a.evs = append(a.evs, float64(h.Events))
		if h.Events > maxEv {
			maxEv = h.Events
			a.typesOfMax = h.Types
		}
		a.retries += h.Retries
		a.bd["click → workflow started"] = append(a.bd["click → workflow started"], ms(h.Start.Sub(clicks[i])))
		var inActs time.Duration
		for _, act := range h.Acts {
			if act.Done.IsZero() {
				continue
			}
			inActs += act.Done.Sub(act.Sched)
			if !act.Started.IsZero() {
				a.actSched[act.Name] = append(a.actSched[act.Name], ms(act.Started.Sub(act.Sched)))
				a.actRun[act.Name] = append(a.actRun[act.Name], ms(act.Done.Sub(act.Started)))
			}
			switch act.Name {
			case "StopVM":
				a.bd["guest off → StopVM done (poll grid)"] = append(a.bd["guest off → StopVM done (poll grid)"], ms(act.Done.Sub(clicks[i].Add(s.Stop))))
			case "DeleteVM":
				a.bd["DeleteVM minus destroy task"] = append(a.bd["DeleteVM minus destroy task"], ms(act.Done.Sub(act.Sched)-r.o.Destroy))
			case "RemoveBackups", "DeleteDNS", "CleanDB", "LoadTarget":
				a.bd[act.Name] = append(a.bd[act.Name], ms(act.Done.Sub(act.Sched)))
			}
		}
		a.bd["between activities (workflow tasks)"] = append(a.bd["between activities (workflow tasks)"], ms(h.Close.Sub(h.Start)-inActs))
		for k, d := range h.WFTQueued {
			a.actSched["(workflow task)"] = append(a.actSched["(workflow task)"], ms(d))
			for len(a.wftByIndex) <= k {
				a.wftByIndex = append(a.wftByIndex, nil)
			}
			a.wftByIndex[k] = append(a.wftByIndex[k], ms(d))
		}
		for _, d := range h.WFTRan {
			a.actRun["(workflow task)"] = append(a.actRun["(workflow task)"], ms(d))
		}
	}
	return a
}

func (a analysis) breakdown() map[string]Dist {
	out := map[string]Dist{}
	for k, v := range a.bd {
		out[k] = distOf(v)
	}
	return out
}

func (a analysis) activities() map[string]ActivityDist {
	out := map[string]ActivityDist{}
	for k := range a.actRun {
		out[k] = ActivityDist{ScheduleToStart: distOf(a.actSched[k]), StartToClose: distOf(a.actRun[k]), Count: len(a.actRun[k])}
	}
	return out
}

// rssWatch samples the worker's thread count (its peak RSS is VmHWM).
type rssWatch struct {
	pid     int
	threads int
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newRSSWatch(pid int) *rssWatch {
	w := &rssWatch{pid: pid, done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick(500*time.Millisecond, w.done, func() {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "Threads:"); ok {
						n, _ := strconv.Atoi(strings.TrimSpace(v))
						w.threads = max(w.threads, n)
					}
				}
			}
		})
	}()
	return w
}

func (w *rssWatch) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// ---------------------------------------------------------------- Proxmox calls

// Routes of the simulator's call counters.
const (
	routeConfig    = "GET /nodes/{node}/qemu/{vmid}/config"
	routeShutdown  = "POST /nodes/{node}/qemu/{vmid}/status/shutdown"
	routeStatus    = "GET /nodes/{node}/qemu/{vmid}/status/current"
	routeStorages  = "GET /nodes/{node}/storage"
	routeContent   = "GET /nodes/{node}/storage/{storage}/content"
	routeDelVolume = "DELETE /nodes/{node}/storage/{storage}/content/{volume}"
	routeTask      = "GET /nodes/{node}/tasks/{upid}/status"
	routeDeleteVM  = "DELETE /nodes/{node}/qemu/{vmid}"
	routeResources = "GET /cluster/resources"
)

// minCalls is the minimum number of Proxmox calls the phases need.
type minCalls struct {
	Total   float64
	ByRoute map[string]float64
}

// minimumCalls is, per run, averaged over runs (see README.md):
//
//	identity   2  GET config: before the first shutdown, and again before DELETE
//	stop       1  POST shutdown + max(1, ceil(left / stop_poll)) GET status/current,
//	              left = how long the guest still had to run when the stop phase began
//	              (its stop time from the click when no history says otherwise)
//	backups    1  GET storage + S GET content + B DELETE volume + B GET task status
//	delete     1  DELETE qemu/{vmid} + max(1, ceil(destroy / task_poll)) GET task status
//	confirm    1  GET cluster/resources
func (r *runner) minimumCalls(svcs []svc, clicks []time.Time, hs []runHist) minCalls {
	m := minCalls{ByRoute: map[string]float64{}}
	poll, tp := r.o.Timing.StopPoll, r.o.Timing.TaskPoll
	destroyPolls := math.Max(1, math.Ceil(float64(r.o.Destroy)/float64(tp)))
	imgdelPolls := math.Max(1, math.Ceil(float64(r.o.ImgDel)/float64(min(tp, 500*time.Millisecond))))
	for i, s := range svcs {
		left := s.Stop
		if i < len(hs) {
			for _, a := range hs[i].Acts {
				if a.Name == "StopVM" && !a.Started.IsZero() {
					left = clicks[i].Add(s.Stop).Sub(a.Started)
					break
				}
			}
		}
		m.ByRoute[routeConfig] += 2
		m.ByRoute[routeShutdown]++
		m.ByRoute[routeStatus] += math.Max(1, math.Ceil(float64(left)/float64(poll)))
		m.ByRoute[routeStorages]++
		m.ByRoute[routeContent] += backupStoragesPerVM
		m.ByRoute[routeDelVolume] += backupsPerVM
		m.ByRoute[routeTask] += backupsPerVM*imgdelPolls + destroyPolls
		m.ByRoute[routeDeleteVM]++
		m.ByRoute[routeResources]++
	}
	for k, v := range m.ByRoute {
		m.ByRoute[k] = round2(v / float64(len(svcs)))
		m.Total += v / float64(len(svcs))
	}
	m.Total = round2(m.Total)
	return m
}

func diffCalls(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func perRunCalls(m map[string]int, n int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = round2(float64(v) / float64(n))
	}
	return out
}

func sumCalls(m map[string]float64) float64 {
	var t float64
	for _, v := range m {
		t += v
	}
	return round2(t)
}

func perRun(m map[string]int, n int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = round2(float64(v) / float64(n))
	}
	return out
}

func addCounts(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round2(x)
	}
	return out
}
