package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// The worker container, minus Docker: the image's worker binary runs with
// the compose service's command and exactly its environment (Temporal's
// address pointed at the dev server, the DSN at a test database), reads the
// compose-mounted config file, and the image's health probe, run as the
// compose health check runs it, sees it healthy.
func TestWorkerRunsAsComposeConfiguresIt(t *testing.T) {
	dev := testenv.DevServer(t)
	_, dbcfg := testenv.NewDatabase(t)
	bin := imageBinaries(t)

	env := secrets()
	env["TERMINATE_DB_DSN"] = dbcfg.DSN
	p := mustLoad(t, env)
	w := service(t, p, "worker")
	port := testenv.Port(t)

	argv, childEnv := composeCommand(t, w, func(a string) string {
		if strings.HasPrefix(a, "--http-addr=") {
			return fmt.Sprintf("--http-addr=127.0.0.1:%d", port)
		}
		return a
	}, map[string]string{"TEMPORAL_ADDRESS": dev.FrontendHostPort()})
	require.Len(t, argv, 2)

	out := &testenv.Buffer{}
	worker := &testenv.Proc{Name: "worker", Path: filepath.Join(bin, "worker"), Args: argv, Env: childEnv, Only: true, Out: out}
	require.NoError(t, worker.Start())
	stop := func() { worker.Stop(syscall.SIGINT, 15*time.Second) }
	t.Cleanup(stop)

	probe := func() (int, string) {
		test := []string(w.HealthCheck.Test)
		require.Equal(t, "CMD", test[0])
		args := []string{strings.Replace(test[2], ":9090/", fmt.Sprintf(":%d/", port), 1)}
		return healthcheck(t, filepath.Join(bin, filepath.Base(test[1])), nil, args...)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, msg := probe()
		if code == 0 {
			break
		}
		select {
		case <-worker.Done():
			t.Fatalf("the worker exited before it was healthy:\n%s", out.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "worker not healthy after 60s: %s\n%s", msg, out.String())
		time.Sleep(300 * time.Millisecond)
	}
	logged := func() bool {
		return strings.Contains(out.String(), "worker started") && strings.Contains(out.String(), "proxmox-terminate")
	}
	for end := time.Now().Add(10 * time.Second); !logged() && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, logged(), "the worker logs that it polls proxmox-terminate:\n%s", out.String())
	for _, s := range secrets() {
		require.NotContains(t, out.String(), s, "the worker never prints a secret")
	}
	require.NotContains(t, out.String(), dbcfg.DSN)

	stop()
	code, _ := probe()
	require.Equal(t, 1, code, "a stopped worker is unhealthy")
}

// temporal-create-namespace's script, run with that service's environment
// against the dev server (the pinned temporal CLI stands in for the one in
// temporalio/admin-tools): it creates the namespace, registers the search
// attributes with their types, and can run again.
func TestCreateNamespaceScriptRegistersSearchAttributes(t *testing.T) {
	dev := testenv.DevServer(t)
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	p := mustLoad(t, secrets())
	svc := service(t, p, "temporal-create-namespace")
	script := filepath.Join(bindSource(t, svc, "/scripts"), filepath.Base(svc.Command[0]))

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "pt-deploy-" + hex.EncodeToString(b)
	run := func(overrides map[string]string) (int, string) {
		e := envOf(svc)
		e["TEMPORAL_ADDRESS"] = dev.FrontendHostPort()
		e["NAMESPACE"] = ns
		for k, v := range overrides {
			e[k] = v
		}
		e["PATH"] = filepath.Dir(cli) + ":/usr/bin:/bin"
		e["HOME"] = t.TempDir()
		var env []string
		for k, v := range e {
			env = append(env, k+"="+v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, svc.Entrypoint[0], script)
		cmd.Env = env
		o, err := cmd.CombinedOutput()
		code, err := testenv.ExitCode(err)
		require.NoError(t, err, "%s", o)
		return code, string(o)
	}

	code, out := run(nil)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("Namespace '%s' created", ns))

	ctx := context.Background()
	c := dev.Client()
	d, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, d.Config.WorkflowExecutionRetentionTtl.AsDuration(), "NAMESPACE_RETENTION default")
	checkAttributes := func() {
		sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		require.NoError(t, err)
		for name, typ := range searchAttributes {
			got, ok := sa.CustomAttributes[name]
			require.True(t, ok, "search attribute %s is registered", name)
			require.Equal(t, enumspb.IndexedValueType(enumspb.IndexedValueType_value["INDEXED_VALUE_TYPE_"+strings.ToUpper(typ)]), got, name)
		}
	}
	checkAttributes()

	// A restart of the job (compose re-runs it on every `up`) succeeds and changes nothing.
	code, out = run(nil)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("Namespace '%s' exists", ns))
	checkAttributes()

	// An attribute registered with another type is an error, not a silent pass.
	code, out = run(map[string]string{"SEARCH_ATTRIBUTES": "ServiceId=Keyword"})
	require.NotEqual(t, 0, code, out)
	code, out = run(map[string]string{"SEARCH_ATTRIBUTES": "ServiceId"})
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "want Name=Type")
}

// The schema job's script is the samples' sequence with our variables,
// the same temporal-sql-tool commands internal/cluster runs against the
// local PostgreSQL for the cluster tests; check its commands and syntax.
func TestSetupPostgresScript(t *testing.T) {
	p := mustLoad(t, secrets())
	svc := service(t, p, "temporal-admin-tools")
	script := filepath.Join(bindSource(t, svc, "/scripts"), filepath.Base(svc.Command[0]))
	out, err := exec.Command("sh", "-n", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(script)
	require.NoError(t, err)
	s := string(b)
	require.Contains(t, s, `for db in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do`)
	require.Contains(t, s, `tool --db "$name" create`)
	require.Contains(t, s, `tool --db "$name" setup-schema -v 0.0`+"\n")
	require.Contains(t, s, `tool --db "$name" update-schema -d "$SCHEMA_DIR/$dir/versioned"`+"\n")
	require.Contains(t, s, "SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}\n", "the admin-tools image's schema")
	require.Contains(t, s, `--plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT"`)
	e := envOf(svc)
	for _, v := range []string{"POSTGRES_SEEDS", "POSTGRES_USER", "SQL_PASSWORD", "DB_PORT"} {
		require.NotEmpty(t, e[v], "the script needs %s", v)
	}
	// Without its variables the script stops before touching anything.
	cmd := exec.Command("sh", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	o, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(o), "POSTGRES_SEEDS")

	// The script itself against the local PostgreSQL, with the pinned
	// temporal-sql-tool and schema (make cluster-tools): twice, as a
	// restarted schema job would run it.
	bin := filepath.Join(root, "bin")
	for _, f := range []string{"temporal-sql-tool", "temporal-schema"} {
		_, err := os.Stat(filepath.Join(bin, f))
		require.NoError(t, err, "make cluster-tools builds %s", f)
	}
	db := fmt.Sprintf("pt_compose_%d", os.Getpid())
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "POSTGRES_SEEDS=127.0.0.1", "POSTGRES_USER=postgres", "SQL_PASSWORD=unused-with-trust-auth",
		"DBNAME=" + db, "VISIBILITY_DBNAME=" + db + "_visibility", "SCHEMA_DIR=" + filepath.Join(bin, "temporal-schema")}
	t.Cleanup(func() {
		for _, d := range []string{db, db + "_visibility"} {
			_ = exec.Command(filepath.Join(bin, "temporal-sql-tool"), "--plugin", "postgres12", "--ep", "127.0.0.1", "-p", "5432", "-u", "postgres", "--db", d, "drop-database", "-f").Run()
		}
	})
	for range 2 {
		cmd := exec.Command("sh", script)
		cmd.Env = env
		o, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", o)
		require.Contains(t, string(o), "PostgreSQL schema setup complete")
	}
	for _, d := range []string{db, db + "_visibility"} {
		v, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", d, "-tAc", "SELECT curr_version FROM schema_version").CombinedOutput()
		require.NoError(t, err, "%s", v)
		require.NotEqual(t, "0.0", strings.TrimSpace(string(v)), "%s is at the server's schema version", d)
	}
}

// The systemd units verify with systemd-analyze (their binary replaced by
// the worker the Dockerfile builds) and use only flags the worker has.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing: apt-get install -y systemd")
	}
	worker := filepath.Join(imageBinaries(t), "worker")
	flags := workerFlags(t, worker)
	for _, want := range []string{"config", "http-addr"} {
		require.Contains(t, flags, want)
	}
	require.NotContains(t, flags, "migrate", "the worker changes no schema: `worker migrate` does")

	units, err := filepath.Glob(filepath.Join(root, "deploy", "systemd", "*.service"))
	require.NoError(t, err)
	require.Len(t, units, 3)
	for _, u := range units {
		base := filepath.Base(u)
		kv := unitKeys(t, u)
		require.Equal(t, []string{"/etc/proxmox-terminate/worker.env"}, kv["EnvironmentFile"], base)
		require.Equal(t, []string{"yes"}, kv["DynamicUser"], "%s runs as an unprivileged user", base)
		require.Len(t, kv["ExecStart"], 1)
		argv := strings.Fields(kv["ExecStart"][0])
		require.Equal(t, "/usr/local/bin/proxmox-terminate-worker", argv[0], base)
		first := 1
		if base == "proxmox-terminate-migrate.service" {
			// Run on purpose, never at boot: a oneshot with no [Install].
			require.Equal(t, []string{"oneshot"}, kv["Type"], base)
			require.Empty(t, kv["WantedBy"], base)
			require.Equal(t, "migrate", argv[1], base)
			first = 2
		} else {
			require.Equal(t, []string{"on-failure"}, kv["Restart"], base)
			require.Equal(t, []string{"multi-user.target"}, kv["WantedBy"], base)
		}
		for i := first; i < len(argv); i++ {
			require.True(t, strings.HasPrefix(argv[i], "--"), "%s: %s", base, argv[i])
			name, _, hasValue := strings.Cut(strings.TrimPrefix(argv[i], "--"), "=")
			require.Contains(t, flags, name, "%s: the worker has no --%s", base, name)
			if !hasValue {
				i++ // "--flag value"
			}
		}
		require.Contains(t, argv, "/etc/proxmox-terminate/config.yaml")

		// systemd-analyze verify, on a copy that names an existing binary.
		dir := t.TempDir()
		b, err := os.ReadFile(u)
		require.NoError(t, err)
		name := strings.Replace(base, "@.service", "@9091.service", 1)
		require.NoError(t, os.WriteFile(filepath.Join(dir, base), bytes.ReplaceAll(b, []byte("/usr/local/bin/proxmox-terminate-worker"), []byte(worker)), 0o644))
		out, err := exec.Command(analyze, "verify", filepath.Join(dir, name)).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify %s", base)
	}
	tmpl := unitKeys(t, filepath.Join(root, "deploy", "systemd", "proxmox-terminate-worker@.service"))
	require.Contains(t, tmpl["ExecStart"][0], "--http-addr 127.0.0.1:%i", "one /healthz port per instance")
}

// workerFlags lists the flags `worker -h` prints.
func workerFlags(t *testing.T, bin string) []string {
	t.Helper()
	out, _ := exec.Command(bin, "-h").CombinedOutput() // flag's -h exits 2
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags = append(flags, m[1])
	}
	require.NotEmpty(t, flags, "%s", out)
	return flags
}

// unitKeys reads a unit file's Key=Value lines (all sections).
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		require.True(t, ok, "%s: %q", path, l)
		out[k] = append(out[k], v)
	}
	require.NoError(t, sc.Err())
	return out
}
