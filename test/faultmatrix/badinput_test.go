package faultmatrix

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"gopkg.in/yaml.v3"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
	"github.com/proxmox-terminate/proxmox-terminate/test/chaos"
)

// snapshot is everything a refused command must leave as it was. It is
// taken once the in-process worker has written the module-log rows it
// queued, which would otherwise land between two snapshots.
type snapshot struct {
	status     string
	activity   int
	moduleLogs int
	actions    int // POST/DELETE requests to the simulator
}

func (e *env) snapshot(v vm) snapshot {
	e.t.Helper()
	e.se.ModuleLogWritten()
	svc, err := e.store.LoadService(context.Background(), v.id)
	require.NoError(e.t, err)
	acts, err := e.store.ActivityLogs(context.Background(), v.userID)
	require.NoError(e.t, err)
	var mods int64
	require.NoError(e.t, e.store.DB().Model(&dbmodel.ModuleLog{}).Count(&mods).Error)
	n := 0
	for _, r := range e.st.Sim.Requests() {
		if r.Method == "POST" || r.Method == "DELETE" {
			n++
		}
	}
	return snapshot{status: svc.VM.VMStatus, activity: len(acts), moduleLogs: int(mods), actions: n}
}

// noRun checks that Temporal has no run for the service.
func (e *env) noRun(v vm) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.tc.DescribeWorkflow(ctx, pipeline.WorkflowID(v.id), "")
	var nf *serviceerror.NotFound
	require.True(e.t, errors.As(err, &nf), "a run exists for service %d: %v", v.id, err)
}

// oneLineError checks the starter's refusal: nothing on stdout, one
// "error: ..." line on stderr (a usage text may follow).
func oneLineError(t *testing.T, out, errOut, msg string) {
	t.Helper()
	require.Empty(t, out)
	first := strings.Split(errOut, "\nusage:")[0]
	first = strings.TrimSuffix(first, "\n")
	require.NotContains(t, first, "\n", "one line: %q", errOut)
	require.True(t, strings.HasPrefix(first, "error: "), "%q", errOut)
	require.Contains(t, first, msg)
}

// configYAML reads the starter's config as a generic tree.
func configYAML(t *testing.T, path string) map[string]any {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	m := map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &m))
	return m
}

func sub(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
func first(m map[string]any, key string) map[string]any {
	return m[key].([]any)[0].(map[string]any)
}

func TestBadInputConfigServicesAndArguments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.seed(nil)
	dir := t.TempDir()
	closed := testenv.Addr(t) // nothing listens there
	write := func(name string, m map[string]any) string {
		b, err := yaml.Marshal(m)
		require.NoError(t, err)
		p := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	raw := func(name, content string) string {
		p := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	mutate := func(name string, f func(m map[string]any)) string {
		m := configYAML(t, e.starterCfg)
		f(m)
		return write(name, m)
	}
	id := fmt.Sprint(v.id)
	cases := []struct {
		name   string
		config string
		args   []string
		code   int
		msg    string
	}{
		{name: "unknown top-level key", config: mutate("unknown-top", func(m map[string]any) { m["tempral"] = map[string]any{"address": "x"} }),
			code: 1, msg: "field tempral not found"},
		{name: "unknown nested key", config: mutate("unknown-nested", func(m map[string]any) { sub(m, "database")["passwrod"] = "x" }),
			code: 1, msg: "field passwrod not found"},
		{name: "bad duration", config: mutate("bad-duration", func(m map[string]any) { sub(m, "timing")["stop_window"] = "5 parsecs" }),
			code: 1, msg: "5 parsecs"},
		{name: "missing proxmox token secret", config: mutate("no-token", func(m map[string]any) { delete(first(m, "proxmox"), "token_secret") }),
			code: 1, msg: "token"},
		{name: "missing proxmox url", config: mutate("no-url", func(m map[string]any) { delete(first(m, "proxmox"), "url") }),
			code: 1, msg: "url"},
		{name: "empty dsn", config: mutate("no-dsn", func(m map[string]any) { sub(m, "database")["dsn"] = "" }),
			code: 1, msg: "dsn (or dsn_env) is not set"},
		{name: "dsn_env unset", config: mutate("dsn-env", func(m map[string]any) {
			sub(m, "database")["dsn"] = ""
			sub(m, "database")["dsn_env"] = "FM_SURELY_UNSET_DSN"
		}), code: 1, msg: "FM_SURELY_UNSET_DSN"},
		{name: "unknown dns kind", config: mutate("dns-kind", func(m map[string]any) { first(m, "dns")["kind"] = "bind9" }),
			code: 1, msg: "bind9"},
		{name: "delete_attempts out of range", config: mutate("attempts", func(m map[string]any) { sub(m, "timing")["delete_attempts"] = -1 }),
			code: 1, msg: "delete_attempts must be between 1 and 100"},
		{name: "missing config file", config: filepath.Join(dir, "does-not-exist.yaml"), code: 1, msg: "no such file or directory"},
		{name: "config is not YAML", config: raw("garbage", "\x00\x01{{{ not: [yaml"), code: 1, msg: "config"},
		{name: "empty config file", config: raw("empty", ""), code: 1, msg: "empty.yaml"},
		{name: "database down", config: mutate("db-down", func(m map[string]any) {
			sub(m, "database")["dsn"] = "root@tcp(" + closed + ")/whmcs?parseTime=true"
		}), code: 1, msg: "connection refused"},
		{name: "temporal down", config: mutate("temporal-down", func(m map[string]any) { sub(m, "temporal")["address"] = closed }),
			code: 1, msg: "temporal"},
		{name: "timeout zero", args: []string{"terminate", "--service-id", id, "--timeout", "0"}, code: 2, msg: "--timeout must be positive"},
		{name: "timeout negative", args: []string{"terminate", "--service-id", id, "--timeout", "-1s"}, code: 2, msg: "--timeout must be positive"},
		{name: "follow with reset", args: []string{"reset", "--service-id", id, "--to", "terminate", "--follow"}, code: 2, msg: "--follow is only for terminate and status"},
		{name: "service id with a space", args: []string{"terminate", "--service-id", " " + id}, code: 2, msg: "not a positive integer"},
		{name: "service id with a plus", args: []string{"terminate", "--service-id", "+" + id}, code: 2, msg: "not a positive integer"},
		{name: "service id in hex", args: []string{"terminate", "--service-id", "0x10"}, code: 2, msg: "not a positive integer"},
		{name: "empty --to", args: []string{"reset", "--service-id", id, "--to", ""}, code: 2, msg: "reset needs --to"},
	}
	require.GreaterOrEqual(t, len(cases), 15)
	before := e.snapshot(v)
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			args := c.args
			if args == nil {
				args = []string{"terminate", "--service-id", id}
			}
			cfg := c.config
			if cfg == "" {
				cfg = e.starterCfg
			}
			code, out, errOut := runStarter(t, testenv.Binary(t, "starter"), append(args, "--config", cfg)...)
			require.Equal(t, c.code, code, "%s%s", out, errOut)
			oneLineError(t, out, errOut, c.msg)
			require.Equal(t, before, e.snapshot(v), "nothing written")
			e.noRun(v)
		})
	}
	require.Equal(t, "ready", before.status)
}

// Signals with bad values, sent raw with the Temporal client, change nothing.
func TestBadInputSignals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.seed(func(s *pvesim.VMSpec) { s.Protection = true })
	code, out, _ := e.starter("terminate", "--service-id", fmt.Sprint(v.id), "--follow")
	require.Equal(t, 3, code, out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wf := pipeline.WorkflowID(v.id)
	long := strings.Repeat("terminate", 64*1024/9)
	for _, c := range []struct {
		name, signal string
		arg          any
		rejected     string // the run's rejection line, when it can read the value
	}{
		{"unknown target", pipeline.SignalReset, "explode", `rejected reset-status "explode"`},
		{"empty string", pipeline.SignalReset, "", `rejected reset-status ""`},
		{"wrong case", pipeline.SignalReset, "TERMINATE", `rejected reset-status "TERMINATE"`},
		{"two lines", pipeline.SignalReset, "remove\nterminate", `rejected reset-status "remove\nterminate"`},
		{"64 KiB", pipeline.SignalReset, long, `rejected reset-status "terminateterminate`},
		{"no payload", pipeline.SignalReset, nil, `rejected reset-status`},
		{"null", pipeline.SignalReset, (*string)(nil), `rejected reset-status`},
		{"integer", pipeline.SignalReset, 42, `rejected reset-status 42`},
		{"object", pipeline.SignalReset, map[string]string{"to": "terminate"}, `rejected reset-status {"to":"terminate"}`},
		{"unknown signal name", "reset_status", "terminate", ""},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			before := e.snapshot(v)
			st0, err := e.status(ctx, v.id)
			require.NoError(t, err)
			if c.arg == nil {
				require.NoError(t, e.tc.SignalWorkflow(ctx, wf, "", c.signal, nil))
			} else {
				require.NoError(t, e.tc.SignalWorkflow(ctx, wf, "", c.signal, c.arg))
			}
			if c.rejected != "" {
				require.Eventually(t, func() bool {
					st, err := e.status(ctx, v.id)
					return err == nil && len(st.Lines) > len(st0.Lines) && strings.Contains(st.Lines[len(st.Lines)-1].Text, c.rejected)
				}, 20*time.Second, 50*time.Millisecond)
			} else {
				time.Sleep(time.Second) // give the run time to (wrongly) act on it
			}
			st, err := e.status(ctx, v.id)
			require.NoError(t, err)
			require.Equal(t, pipeline.PhaseWaiting, st.Phase)
			require.Equal(t, before, e.snapshot(v), "nothing written")
			svc, err := e.store.LoadService(ctx, v.id)
			require.NoError(t, err)
			require.Equal(t, v.ip4, svc.Hosting.DedicatedIP)
			require.Equal(t, v.vmid, svc.VM.VMID)
			require.True(t, e.st.Sim.VMExists(v.vmid))
		})
	}
	// The run is not wedged: a valid admin action still applies.
	code, out, errOut := e.starter("reset", "--service-id", fmt.Sprint(v.id), "--to", "remove")
	require.Equal(t, 0, code, out+errOut)
	require.Eventually(t, func() bool { return e.workflow(v.id).Status == "COMPLETED" }, 20*time.Second, 100*time.Millisecond)
	svc, err := e.store.LoadService(ctx, v.id)
	require.NoError(t, err)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
	require.True(t, e.st.Sim.VMExists(v.vmid), "remove touches nothing on Proxmox")
}

// Admin signals sent while the termination is still running are ignored.
func TestBadInputSignalsDuringTheRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.seed(func(s *pvesim.VMSpec) { s.IgnoreACPI, s.Protection = true, true })
	code, out, errOut := e.starter("terminate", "--service-id", fmt.Sprint(v.id))
	require.Equal(t, 0, code, out+errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, e.waitPhase(ctx, v.id, pipeline.PhaseStop))
	wf := pipeline.WorkflowID(v.id)
	require.NoError(t, e.tc.SignalWorkflow(ctx, wf, "", pipeline.SignalDelete, nil))
	require.NoError(t, e.tc.SignalWorkflow(ctx, wf, "", pipeline.SignalReset, "remove"))
	code, out, _ = e.starter("status", "--service-id", fmt.Sprint(v.id), "--follow")
	require.Equal(t, 3, code, out)
	st, err := e.status(ctx, v.id)
	require.NoError(t, err)
	var text []string
	for _, l := range st.Lines {
		text = append(text, l.Text)
	}
	all := strings.Join(text, "\n")
	require.Contains(t, all, "ignored delete-record sent while the termination was running")
	require.Contains(t, all, `ignored reset-status "remove" sent while the termination was running`)
	svc, err := e.store.LoadService(ctx, v.id)
	require.NoError(t, err, "the VM row still exists")
	require.Equal(t, dbmodel.StatusErrorTerminate, svc.VM.VMStatus)
	require.Equal(t, v.ip4, svc.Hosting.DedicatedIP)
	acts, err := e.store.ActivityLogs(ctx, v.userID)
	require.NoError(t, err)
	require.Len(t, acts, 1)
}

// Temporal goes down in the middle of a click — after the starter checked
// for a run, before it started one. The click fails with one line and a
// non-zero exit; it must not have written anything either: the row keeps
// its status and the customer's VM is not shut down.
func TestBadInputTemporalDownMidClick(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.seed(nil)
	gate, err := chaos.NewGate(testenv.DevServer(t).FrontendHostPort())
	require.NoError(t, err)
	t.Cleanup(gate.Close)
	m := configYAML(t, e.starterCfg)
	sub(m, "temporal")["address"] = gate.Addr()
	b, err := yaml.Marshal(m)
	require.NoError(t, err)
	cfg := filepath.Join(t.TempDir(), "starter.yaml")
	require.NoError(t, os.WriteFile(cfg, b, 0o600))

	// The starter reads the VM's config before its shutdown; a slow
	// shutdown answer leaves time to take Temporal down right then.
	e.st.Sim.SetFault(pvesim.Fault{VMID: v.vmid, Route: routeShutdown, Kind: pvesim.FaultLatency, Delay: time.Second})
	starter := testenv.Binary(t, "starter")
	go func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			for _, r := range e.st.Sim.Requests() {
				if r.Method == "GET" && strings.HasSuffix(r.Path, fmt.Sprintf("/qemu/%d/config", v.vmid)) {
					gate.Down()
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	before := e.snapshot(v)
	code, out, errOut := runStarter(t, starter, "terminate", "--service-id", fmt.Sprint(v.id), "--timeout", "5s", "--config", cfg)
	require.NoError(t, gate.Up())
	require.Equal(t, 1, code, out+errOut)
	oneLineError(t, out, errOut, "")
	e.noRun(v)
	after := e.snapshot(v)
	require.Equal(t, before.status, after.status)
	require.Equal(t, before.activity, after.activity)
	var shutdowns []string
	for _, r := range e.st.Sim.Requests() {
		if r.Method == "POST" && strings.Contains(r.Path, fmt.Sprintf("/qemu/%d/status/", v.vmid)) {
			shutdowns = append(shutdowns, r.Path)
		}
	}
	require.Empty(t, shutdowns, "the refused click shut the customer's VM down")
}
