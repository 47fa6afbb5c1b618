// Package whmcs tests the WHMCS provisioning module
// (modules/servers/proxmoxterminate) with Debian's php-cli against the real
// starter binary, a real Temporal dev server, MariaDB and the Proxmox
// simulator, and against fake starters for the failure paths.
package whmcs

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	modulePath  = filepath.Join("modules", "servers", "proxmoxterminate", "proxmoxterminate.php")
	harnessPath = filepath.Join("testdata", "harness.php")
)

// php returns the php binary, failing (never skipping) when it is missing.
func php(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("php")
	if err != nil {
		t.Fatal("php is not installed: apt-get install -y php-cli (Debian's PHP CLI runs the WHMCS module tests)")
	}
	return p
}

type callLog struct {
	Module    string         `json:"module"`
	Action    string         `json:"action"`
	Request   map[string]any `json:"request"`
	Response  map[string]any `json:"response"`
	Processed string         `json:"processed"`
	Replace   []string       `json:"replace"`
}

type harnessOut struct {
	Result  string    `json:"result"`
	Type    string    `json:"type"`
	Elapsed float64   `json:"elapsed"`
	Calls   []callLog `json:"calls"`
}

// terminate runs proxmoxterminate_TerminateAccount(params) under php.
func terminate(t *testing.T, params map[string]any, extra ...string) harnessOut {
	t.Helper()
	return terminateWith(t, nil, params, extra...)
}

// terminateWith is terminate with php flags (e.g. -d ini settings).
func terminateWith(t *testing.T, phpFlags []string, params map[string]any, extra ...string) harnessOut {
	t.Helper()
	dir := t.TempDir()
	pf := filepath.Join(dir, "params.json")
	b, err := json.Marshal(params)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pf, b, 0o600))
	var out harnessOut
	runPHP(t, nil, &out, append(append(append([]string(nil), phpFlags...), harnessPath, modulePath, pf), extra...)...)
	require.Equal(t, "string", out.Type)
	require.NotEmpty(t, out.Result, "TerminateAccount must never return an empty string")
	return out
}

// runPHP runs php with args (in env, unless nil) and decodes what it prints
// into out: php must exit 0 and print nothing on stderr.
func runPHP(t testing.TB, env []string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, php(t), args...)
	cmd.Env = env
	code, stdout, stderr, err := testenv.Run(cmd)
	require.NoError(t, err)
	require.Equal(t, 0, code, "php: %s", stderr)
	require.Empty(t, stderr, "php printed warnings or notices")
	require.NoError(t, json.Unmarshal([]byte(stdout), out), stdout)
}

// fakeStarter writes an executable shell script standing in for the starter.
func fakeStarter(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "starter")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return p
}

// Every PHP file, of the modules and of the test harnesses, is valid PHP.
func TestPHPLints(t *testing.T) {
	var files []string
	for _, dir := range []string{"modules", "testdata"} {
		require.NoError(t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil && filepath.Ext(p) == ".php" {
				files = append(files, p)
			}
			return err
		}))
	}
	require.Contains(t, files, modulePath)
	require.Contains(t, files, filepath.Join(addonDir, "proxmoxterminate.php"))
	for _, f := range files {
		out, err := exec.Command(php(t), "-l", f).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "No syntax errors detected", f)
	}
}

// The real stack: the module's "success" is the starter's, and the run it
// queued terminates the VM.
var nextID = stack.IDs

type realStack struct {
	st    *stack.Stack
	store *dbmodel.Store
}

func newStack(t testing.TB) realStack {
	t.Helper()
	return newStackTiming(t, pipeline.Timing{})
}

// newStackTiming is newStack whose runs use tm (zero: stack.FastTiming).
func newStackTiming(t testing.TB, tm pipeline.Timing) realStack {
	t.Helper()
	e := stack.NewEnv(t, stack.EnvOptions{NoPDNS: true})
	return realStack{st: e.Start(stack.Options{Timing: tm}), store: e.Store}
}

func TestTerminateSuccessWithRealStarter(t *testing.T) {
	rs := newStack(t)
	bin := testenv.Binary(t, "starter")
	id := int(nextID.Add(1))
	vmid := 1000 + id%8000
	fqdn := fmt.Sprintf("%d-whmcs.example.com", id)
	require.NoError(t, stack.AddVMWithBackups(rs.st.Sim, "pve1", vmid, fqdn, 500*time.Millisecond))
	require.NoError(t, stack.Seed(context.Background(), rs.store, stack.Service{
		ID: id, UserID: id + 500000, Domain: fqdn, DedicatedIP: "192.0.2.77", VMID: vmid, Node: "pve1", VMName: fqdn,
	}))

	out := terminate(t, map[string]any{
		"serviceid": id, "configoption1": bin, "configoption2": rs.st.ConfigPath,
		"configoption3": "20", "configoption4": "",
	})
	require.Equal(t, "success", out.Result)
	require.Less(t, out.Elapsed, 23.0)
	require.Len(t, out.Calls, 1)
	c := out.Calls[0]
	require.Equal(t, "proxmoxterminate", c.Module)
	require.Equal(t, "TerminateAccount", c.Action)
	require.Equal(t, "success", c.Processed)
	require.EqualValues(t, 0, c.Response["exit"])
	require.Contains(t, c.Request["command"], "'terminate' '--service-id' '"+strconv.Itoa(id)+"'")

	// The starter queued a real run: the VM and its backups go away and the
	// row ends in remove.
	require.Eventually(t, func() bool { return !rs.st.Sim.VMExists(vmid) }, 90*time.Second, 200*time.Millisecond)
	require.Eventually(t, func() bool {
		svc, err := rs.store.LoadService(context.Background(), id)
		return err == nil && svc.VM.VMStatus == dbmodel.StatusRemove
	}, 30*time.Second, 200*time.Millisecond)
	require.Empty(t, rs.st.Sim.Backups(vmid))
}

func TestUnknownServiceReturnsTheStartersErrorLine(t *testing.T) {
	rs := newStack(t)
	bin := testenv.Binary(t, "starter")
	id := int(nextID.Add(1)) + 900000 // never seeded

	// What the starter itself says, run directly.
	code, _, stderr, err := testenv.Run(exec.Command(bin, "terminate", "--service-id", strconv.Itoa(id), "--config", rs.st.ConfigPath))
	require.NoError(t, err)
	require.NotEqual(t, 0, code)
	want := strings.TrimSpace(stderr)
	require.True(t, strings.HasPrefix(want, "error: "), want)
	require.NotContains(t, want, "\n", "the starter's error is one line")

	out := terminate(t, map[string]any{
		"serviceid": strconv.Itoa(id), "configoption1": bin, "configoption2": rs.st.ConfigPath, "configoption3": "20",
	})
	require.Equal(t, want, out.Result)
	require.Len(t, out.Calls, 1)
	require.EqualValues(t, 1, out.Calls[0].Response["exit"])
	svc, lerr := rs.store.LoadService(context.Background(), id)
	require.Error(t, lerr, "nothing was written for the unknown service: %+v", svc)
}

func TestHungStarterIsKilledWithinTheBound(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	bin := fakeStarter(t, fmt.Sprintf("echo $$ > %q\nexec sleep 120", pidFile))

	out := terminate(t, map[string]any{"serviceid": 42, "configoption1": bin, "configoption3": "1", "configoption4": ""})
	// --timeout 1s, killed 3s later: about 4s, never much more.
	require.GreaterOrEqual(t, out.Elapsed, 3.9)
	require.Less(t, out.Elapsed, 5.5)
	require.True(t, strings.HasPrefix(out.Result, "error: starter timed out after 4s (--timeout 1s) and was killed"), out.Result)

	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the hung starter (pid %d) must be dead", pid)
}

func TestStarterFailingSilentlyStillGivesAnError(t *testing.T) {
	bin := fakeStarter(t, "exit 7")
	out := terminate(t, map[string]any{"serviceid": 42, "configoption1": bin})
	require.Equal(t, "error: starter exited with code 7 and printed nothing", out.Result)

	bin = fakeStarter(t, "echo 'not what you expect'")
	out = terminate(t, map[string]any{"serviceid": 42, "configoption1": bin})
	require.Equal(t, "error: starter exited with code 0 and printed: not what you expect", out.Result)

	bin = fakeStarter(t, "echo 'error: first' >&2; echo 'usage: ...' >&2; exit 2")
	out = terminate(t, map[string]any{"serviceid": 42, "configoption1": bin})
	require.Equal(t, "error: first", out.Result)
}

func TestArgumentsAreQuotedAndEnvFileIsPassed(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	bin := fakeStarter(t, fmt.Sprintf(`for a in "$@"; do printf '%%s\n' "$a"; done > %q
echo "error: secret=$PVE_TOKEN_SECRET other=$OTHER" >&2
exit 1`, argsFile))
	cfg := filepath.Join(dir, "it's a \"config\" $(touch pwned).yaml")
	env := filepath.Join(dir, "starter.env")
	require.NoError(t, os.WriteFile(env, []byte("# secrets\nPVE_TOKEN_SECRET=\"5d3b-secret\"\n\nexport OTHER=plain\n"), 0o600))

	out := terminate(t, map[string]any{"serviceid": "77", "configoption1": bin, "configoption2": cfg,
		"configoption3": "9", "configoption4": env})
	require.Equal(t, "error: secret=5d3b-secret other=plain", out.Result)
	b, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	require.Equal(t, []string{"terminate", "--service-id", "77", "--timeout", "9s", "--config", cfg},
		strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	require.NoFileExists(t, filepath.Join(dir, "pwned"))
	require.Len(t, out.Calls, 1)
	require.Contains(t, out.Calls[0].Replace, "5d3b-secret", "env-file values are scrubbed from the module log")

	// Without logModuleCall (outside WHMCS) the module works the same.
	out = terminate(t, map[string]any{"serviceid": "77", "configoption1": bin, "configoption4": env}, "nolog")
	require.Equal(t, "error: secret=5d3b-secret other=plain", out.Result)
	require.Empty(t, out.Calls)
}

func TestBadSettingsAreErrors(t *testing.T) {
	ok := fakeStarter(t, "echo success")
	for _, tc := range []struct {
		params map[string]any
		prefix string
	}{
		{map[string]any{"serviceid": "1; rm -rf /", "configoption1": ok}, "error: invalid service id"},
		{map[string]any{"serviceid": 0, "configoption1": ok}, "error: invalid service id"},
		{map[string]any{"configoption1": ok}, "error: invalid service id"},
		{map[string]any{"serviceid": 5, "configoption1": "/nonexistent/starter"}, "error: starter binary '/nonexistent/starter' is missing"},
		{map[string]any{"serviceid": 5, "configoption1": ok, "configoption3": "0"}, `error: module setting "Timeout (seconds)"`},
		{map[string]any{"serviceid": 5, "configoption1": ok, "configoption3": "5s"}, `error: module setting "Timeout (seconds)"`},
		{map[string]any{"serviceid": 5, "configoption1": ok, "configoption4": "/nonexistent/env"}, "error: environment file /nonexistent/env is missing"},
	} {
		out := terminate(t, tc.params)
		require.True(t, strings.HasPrefix(out.Result, tc.prefix), "%v: %s", tc.params, out.Result)
	}
	out := terminate(t, map[string]any{"serviceid": 5, "configoption1": ok})
	require.Equal(t, "success", out.Result)

	// Hosts that disable proc_open get a reason, not a PHP fatal error.
	out = terminateWith(t, []string{"-d", "disable_functions=proc_open"}, map[string]any{"serviceid": 5, "configoption1": ok})
	require.Equal(t, "error: proc_open is disabled in this PHP (disable_functions): the module cannot run the starter", out.Result)
}
