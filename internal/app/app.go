// Package app wires the configuration into the pieces the worker and the
// starter run: the database store, the Proxmox clients, the DNS providers,
// the activities and the Temporal worker.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
	"github.com/proxmox-terminate/proxmox-terminate/workflows"
)

// Deps are the worker's dependencies.
type Deps struct {
	Config     *config.Config
	Store      *dbmodel.Store
	Activities *activities.Activities
	// ModuleLog writes tblmodulelog in the background; Close flushes it.
	ModuleLog *activities.ModuleLogWriter
}

// Open connects the store and builds clients. It checks WHMCS's schema and
// that our own tables are migrated (`worker migrate`); it changes no schema.
func Open(cfg *config.Config, out io.Writer) (*Deps, error) {
	store, err := dbmodel.Open(cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := store.CheckWHMCSSchema(); err != nil {
		store.Close()
		return nil, err
	}
	if err := store.CheckSchema(context.Background()); err != nil {
		store.Close()
		return nil, err
	}
	acts := &activities.Activities{Store: store, Out: out, Secrets: cfg.Secrets()}
	writer := activities.NewModuleLogWriter(store, activities.ModuleLogWriterOptions{})
	ml := activities.ModuleLog{Store: store, Secrets: acts.Secrets, Writer: writer}
	fail := func(err error) (*Deps, error) {
		_ = writer.Close(context.Background())
		store.Close()
		return nil, err
	}
	acts.PVE, err = pve.NewAll(cfg.Proxmox, ml.PVEObserver())
	if err != nil {
		return fail(err)
	}
	acts.DNS, err = dns.Build(cfg.DNS, ml.DNSObserver())
	if err != nil {
		return fail(err)
	}
	return &Deps{Config: cfg, Store: store, Activities: acts, ModuleLog: writer}, nil
}

// FlushTimeout bounds the module log's last write when the worker stops.
const FlushTimeout = 10 * time.Second

// Close is the worker's stop path, after the Temporal worker has stopped:
// it writes the queued module-log rows (for at most FlushTimeout), then
// releases the database pool.
func (d *Deps) Close() error {
	var flushErr error
	if d.ModuleLog != nil {
		ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
		flushErr = d.ModuleLog.Close(ctx)
		cancel()
		if flushErr != nil {
			slog.Warn("module log flush at shutdown", "error", flushErr)
		}
	}
	return errors.Join(flushErr, d.Store.Close())
}

// Collectors are the worker's own Prometheus metrics that live outside the
// activities: terminate_modulelog_dropped_total (module-log rows dropped
// because the database stayed away) and terminate_modulelog_queued (rows
// waiting to be written).
func (d *Deps) Collectors() []prometheus.Collector {
	w := d.ModuleLog
	if w == nil {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "terminate_modulelog_dropped_total",
			Help: "tblmodulelog rows dropped because the database stayed away"}, func() float64 { return float64(w.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "terminate_modulelog_queued",
			Help: "tblmodulelog rows waiting to be written"}, func() float64 { return float64(w.Queued()) }),
	}
}

// Register registers the workflows and activities on w.
func Register(w worker.Registry, acts *activities.Activities) {
	w.RegisterWorkflowWithOptions(workflows.TerminateWorkflow, workflow.RegisterOptions{Name: pipeline.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.ReconcileWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowName})
	w.RegisterActivityWithOptions(acts, activity.RegisterOptions{})
}

// NewWorker builds the Temporal worker for the task queue; its activities
// use c to re-queue terminations.
func NewWorker(c client.Client, d *Deps) worker.Worker {
	d.Activities.Requeue = &activities.Requeuer{Temporal: c, TaskQueue: d.Config.Temporal.TaskQueue, Timing: d.Config.Timing}
	w := worker.New(c, d.Config.Temporal.TaskQueue, worker.Options{
		// Heartbeats carry the live lines of the running phase to
		// `starter --follow`: send them within a second (the SDK would
		// otherwise hold them for 80% of the heartbeat timeout). Activities
		// heartbeat once per status poll, so this adds no traffic.
		MaxHeartbeatThrottleInterval: time.Second,
		// A fleet run (hundreds of terminations at once) starves the SDK's
		// default two pollers per queue (test/bench/README.md measured 96 s → 78 s
		// makespan for 400 runs with 16).
		MaxConcurrentWorkflowTaskPollers: 16,
		MaxConcurrentActivityTaskPollers: 16,
	})
	Register(w, d.Activities)
	return w
}

// CheckSearchAttributes verifies that the namespace defines the run's search
// attributes with the right types; if not, the error gives the commands.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for _, sa := range pipeline.SearchAttributes {
		typ, ok := resp.GetCustomAttributes()[sa.Name]
		if !ok || !strings.EqualFold(strings.TrimPrefix(typ.String(), "INDEXED_VALUE_TYPE_"), sa.Type) {
			missing = append(missing, sa.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("namespace %s lacks search attributes %s; create them with:\n%s",
			namespace, strings.Join(missing, ", "), pipeline.CreateCommands(namespace))
	}
	return nil
}

// ScheduleID is the re-queue schedule's ID (one per task queue).
func ScheduleID(taskQueue string) string { return "reconcile-" + taskQueue }

// EnsureSchedule creates the re-queue schedule (every interval, overlapping
// passes skipped) unless it exists. Every worker may call it.
func EnsureSchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      ScheduleID(taskQueue),
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID: "reconcile-" + taskQueue, Workflow: workflows.ReconcileWorkflowName, TaskQueue: taskQueue,
			WorkflowExecutionTimeout: 5 * time.Minute,
		},
	})
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", ScheduleID(taskQueue), err)
	}
	return nil
}

// Dial connects to Temporal. metrics and logger may be nil.
func Dial(cfg *config.Config, metrics client.MetricsHandler, logger *slog.Logger) (client.Client, error) {
	opts := client.Options{HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace, MetricsHandler: metrics,
		// Payloads are small JSON: compressing them costs more CPU than it
		// saves (test/bench/README.md: −17% worker CPU).
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}}
	if logger != nil {
		opts.Logger = tlog.NewStructuredLogger(logger)
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("temporal %s: %w", cfg.Temporal.Address, err)
	}
	return c, nil
}
