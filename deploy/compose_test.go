// Package deploy checks the deployment files: docker-compose.yml (loaded
// with compose-spec/compose-go, as `docker compose` loads it), the
// Dockerfile and .dockerignore, the Temporal setup scripts (run against the
// real dev server), the systemd units and deploy/INSTALL.md. There is no
// Docker engine on the test machines: what can be checked without one is.
package deploy

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/internal/cluster"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, func() {
		if imageDir != "" {
			os.RemoveAll(imageDir)
		}
	})
}

var root = testenv.RepoRoot()

// The search attributes TerminateWorkflow upserts, registered by
// temporal-create-namespace.
var searchAttributes = map[string]string{
	"ServiceId":      "Int",
	"VmId":           "Int",
	"ProxmoxNode":    "Keyword",
	"VmStatus":       "Keyword",
	"TerminatePhase": "Keyword",
	"GraceUntil":     "Datetime",
}

// secrets are the values the tests give the required variables: distinct,
// so that where each one lands can be traced.
func secrets() map[string]string {
	return map[string]string{
		"TEMPORAL_POSTGRES_PASSWORD": "tpg-Zx81-pw",
		"TERMINATE_DB_DSN":           "terminate:dsn-Q4-pw@tcp(host.docker.internal:3306)/whmcs?parseTime=true&loc=UTC",
		"PVE_TOKEN_SECRET":           "5d3b2f4e-0000-4f7e-9b2d-6a0c1e7f3a95",
		"PDNS_API_KEY":               "pdns-key-7Yt",
	}
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// loadCompose loads docker-compose.yml as `docker compose` would, with env
// as the only environment (no .env, no OS environment).
func loadCompose(t *testing.T, env map[string]string, opts ...cli.ProjectOptionsFn) (*types.Project, error) {
	t.Helper()
	o, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		append([]cli.ProjectOptionsFn{cli.WithWorkingDirectory(root), cli.WithEnv(envList(env))}, opts...)...)
	require.NoError(t, err)
	return o.LoadProject(context.Background())
}

func mustLoad(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, env)
	require.NoError(t, err)
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	require.NoError(t, err, "service %s", name)
	return s
}

func envOf(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestComposeServicesImagesAndOrder(t *testing.T) {
	p := mustLoad(t, secrets())
	require.Equal(t, "proxmox-terminate", p.Name)
	require.ElementsMatch(t, []string{"postgresql", "temporal-admin-tools", "temporal", "temporal-create-namespace", "temporal-ui", "migrate", "worker"}, p.ServiceNames())

	// Images, pinned: the server release the cluster tests run (tools.mod,
	// internal/cluster.Version) and its admin-tools, PostgreSQL as on the
	// test machines, the UI of Temporal's samples-server compose.
	images := map[string]string{
		"postgresql":                "postgres:15",
		"temporal-admin-tools":      "temporalio/admin-tools:" + cluster.Version + "-tctl-1.18.4-cli-1.5.0",
		"temporal":                  "temporalio/server:" + cluster.Version,
		"temporal-create-namespace": "temporalio/admin-tools:" + cluster.Version + "-tctl-1.18.4-cli-1.5.0",
		"temporal-ui":               "temporalio/ui:2.49.1",
	}
	for name, img := range images {
		s := service(t, p, name)
		require.Equal(t, img, s.Image, name)
		require.Nil(t, s.Build, "%s is pulled, not built", name)
	}
	w := service(t, p, "worker")
	require.NotNil(t, w.Build, "the worker is built from the Dockerfile")
	require.Equal(t, root, w.Build.Context)
	require.Equal(t, "Dockerfile", w.Build.Dockerfile)
	require.FileExists(t, filepath.Join(w.Build.Context, w.Build.Dockerfile))

	// Start order: schema before the server, the server healthy before the
	// namespace, the namespace and search attributes, and our own tables
	// (`worker migrate`, once), before any worker.
	want := map[string]map[string]string{
		"postgresql":                {},
		"temporal-admin-tools":      {"postgresql": types.ServiceConditionHealthy},
		"temporal":                  {"temporal-admin-tools": types.ServiceConditionCompletedSuccessfully},
		"temporal-create-namespace": {"temporal": types.ServiceConditionHealthy},
		"temporal-ui":               {"temporal": types.ServiceConditionHealthy},
		"migrate":                   {},
		"worker": {
			"temporal":                  types.ServiceConditionHealthy,
			"temporal-create-namespace": types.ServiceConditionCompletedSuccessfully,
			"migrate":                   types.ServiceConditionCompletedSuccessfully,
		},
	}
	for name, deps := range want {
		got := map[string]string{}
		for dep, d := range service(t, p, name).DependsOn {
			got[dep] = d.Condition
			require.True(t, d.Required, "%s -> %s", name, dep)
		}
		require.Equal(t, deps, got, "depends_on of %s", name)
	}
	// A condition on service_healthy needs a health check there.
	for name := range want {
		for dep, d := range service(t, p, name).DependsOn {
			if d.Condition == types.ServiceConditionHealthy {
				hc := service(t, p, dep).HealthCheck
				require.True(t, hc != nil && len(hc.Test) > 0 && !hc.Disable, "%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}

	// Restart policies: one-shot jobs retry a few times then stop; the rest stay up.
	require.Equal(t, "on-failure:6", service(t, p, "temporal-admin-tools").Restart)
	require.Equal(t, "on-failure:5", service(t, p, "temporal-create-namespace").Restart)
	require.Equal(t, "on-failure:5", service(t, p, "migrate").Restart)
	for _, name := range []string{"postgresql", "temporal", "temporal-ui", "worker"} {
		require.Equal(t, types.RestartPolicyUnlessStopped, service(t, p, name).Restart, name)
	}
}

func TestComposeHealthChecksAndPorts(t *testing.T) {
	p := mustLoad(t, secrets())
	hc := func(name string) *types.HealthCheckConfig {
		h := service(t, p, name).HealthCheck
		require.NotNil(t, h, "%s has a health check", name)
		require.False(t, h.Disable)
		require.NotNil(t, h.Interval)
		require.NotNil(t, h.Timeout)
		require.NotNil(t, h.Retries)
		return h
	}
	require.Equal(t, types.HealthCheckTest{"CMD-SHELL", "pg_isready -U temporal"}, hc("postgresql").Test)
	require.Equal(t, types.HealthCheckTest{"CMD", "nc", "-z", "localhost", "7233"}, hc("temporal").Test)
	wh := hc("worker")
	require.Equal(t, types.HealthCheckTest{"CMD", "/usr/local/bin/healthcheck", "http://127.0.0.1:9090/healthz"}, wh.Test)

	port := func(name string) []types.ServicePortConfig { return service(t, p, name).Ports }
	require.Equal(t, []types.ServicePortConfig{{Mode: "ingress", HostIP: "127.0.0.1", Target: 7233, Published: "7233", Protocol: "tcp"}}, port("temporal"))
	require.Equal(t, []types.ServicePortConfig{{Mode: "ingress", HostIP: "127.0.0.1", Target: 8080, Published: "8080", Protocol: "tcp"}}, port("temporal-ui"))
	require.Empty(t, port("postgresql"), "Temporal's database is not published")
	require.Empty(t, port("temporal-admin-tools"))
	require.Empty(t, port("temporal-create-namespace"))

	// --scale worker=N: no fixed container name, no host port.
	w := service(t, p, "worker")
	require.Empty(t, w.ContainerName)
	require.Empty(t, w.Ports)
	require.Equal(t, types.StringOrNumberList{"9090"}, w.Expose)
	require.Contains(t, w.Command, "--http-addr=0.0.0.0:9090", "/healthz listens where the health check looks")
	for name, s := range p.Services {
		require.Empty(t, s.ContainerName, "%s: container_name pins one container per name", name)
	}
	// Hardening of the worker container.
	require.True(t, w.ReadOnly)
	require.Equal(t, []string{"ALL"}, w.CapDrop)
	require.Contains(t, w.SecurityOpt, "no-new-privileges:true")
	require.Empty(t, w.User, "the image's USER (non-root) applies")

	// The binds can be opened up explicitly, never by accident.
	env := secrets()
	env["TEMPORAL_BIND"] = "0.0.0.0"
	env["TEMPORAL_UI_PORT"] = "18080"
	p2 := mustLoad(t, env)
	require.Equal(t, "0.0.0.0", service(t, p2, "temporal").Ports[0].HostIP)
	require.Equal(t, "18080", service(t, p2, "temporal-ui").Ports[0].Published)
	require.Equal(t, "127.0.0.1", service(t, p2, "temporal-ui").Ports[0].HostIP)
}

func TestComposeTemporalWiring(t *testing.T) {
	s := secrets()
	p := mustLoad(t, s)
	pg := envOf(service(t, p, "postgresql"))
	require.Equal(t, s["TEMPORAL_POSTGRES_PASSWORD"], pg["POSTGRES_PASSWORD"])
	require.Equal(t, "temporal", pg["POSTGRES_USER"])
	for _, name := range []string{"temporal-admin-tools", "temporal"} {
		e := envOf(service(t, p, name))
		require.Equal(t, "postgres12", e["DB"], name)
		require.Equal(t, "postgresql", e["POSTGRES_SEEDS"], name)
		require.Contains(t, p.ServiceNames(), e["POSTGRES_SEEDS"])
		require.Equal(t, "5432", e["DB_PORT"], name)
		require.Equal(t, "temporal", e["POSTGRES_USER"], name)
		require.Equal(t, s["TEMPORAL_POSTGRES_PASSWORD"], e["POSTGRES_PWD"], name)
	}
	require.Equal(t, s["TEMPORAL_POSTGRES_PASSWORD"], envOf(service(t, p, "temporal-admin-tools"))["SQL_PASSWORD"], "temporal-sql-tool reads SQL_PASSWORD")

	// The one-shot jobs run scripts from ./deploy/temporal mounted at /scripts.
	for name, script := range map[string]string{"temporal-admin-tools": "setup-postgres.sh", "temporal-create-namespace": "create-namespace.sh"} {
		svc := service(t, p, name)
		require.Equal(t, types.ShellCommand{"/bin/sh"}, svc.Entrypoint, name)
		require.Equal(t, types.ShellCommand{"/scripts/" + script}, svc.Command, name)
		src := bindSource(t, svc, "/scripts")
		require.Equal(t, filepath.Join(root, "deploy", "temporal"), src)
		require.FileExists(t, filepath.Join(src, script))
	}

	// Dynamic config: the server resolves the path against /etc/temporal.
	tsrv := service(t, p, "temporal")
	te := envOf(tsrv)
	require.Equal(t, "0.0.0.0", te["BIND_ON_IP"])
	dc := filepath.Join("/etc/temporal", te["DYNAMIC_CONFIG_FILE_PATH"])
	dir := bindSource(t, tsrv, filepath.Dir(dc))
	b, err := os.ReadFile(filepath.Join(dir, filepath.Base(dc)))
	require.NoError(t, err)
	var dyn map[string][]map[string]any
	require.NoError(t, yaml.Unmarshal(b, &dyn))
	require.Contains(t, dyn, "limit.maxIDLength")
	require.NotContains(t, dyn, "system.forceSearchAttributesCacheRefreshOnRead", "dev-only setting")

	// The namespace job, the UI and the worker all talk to the same frontend and namespace.
	ns := envOf(service(t, p, "temporal-create-namespace"))
	ui := envOf(service(t, p, "temporal-ui"))
	wk := envOf(service(t, p, "worker"))
	for _, e := range []map[string]string{ns, ui, wk} {
		require.Equal(t, "temporal:7233", e["TEMPORAL_ADDRESS"])
	}
	require.Equal(t, "default", ns["NAMESPACE"])
	require.Equal(t, ns["NAMESPACE"], wk["TEMPORAL_NAMESPACE"])
	require.Equal(t, ns["NAMESPACE"], ui["TEMPORAL_DEFAULT_NAMESPACE"])
	require.Equal(t, searchAttributes, parseSearchAttributes(t, ns["SEARCH_ATTRIBUTES"]))

	env := secrets()
	env["TEMPORAL_NAMESPACE"] = "hosting"
	p2 := mustLoad(t, env)
	require.Equal(t, "hosting", envOf(service(t, p2, "temporal-create-namespace"))["NAMESPACE"])
	require.Equal(t, "hosting", envOf(service(t, p2, "worker"))["TEMPORAL_NAMESPACE"])
}

func parseSearchAttributes(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pair := range strings.Fields(s) {
		name, typ, ok := strings.Cut(pair, "=")
		require.True(t, ok, "bad pair %q", pair)
		out[name] = typ
	}
	return out
}

// composeCommand is service s's command and exactly its environment, as
// compose runs it: --config points at the source of the file compose
// mounts there, arg (when not nil) may change any other argument, and a
// variable named in env has that value instead of its own.
func composeCommand(t *testing.T, s types.ServiceConfig, arg func(string) string, env map[string]string) (argv, environ []string) {
	t.Helper()
	cfgTarget := envOf(s)["PROXMOX_TERMINATE_CONFIG"]
	for _, a := range s.Command {
		switch {
		case a == "--config="+cfgTarget:
			a = "--config=" + bindSource(t, s, cfgTarget)
		case arg != nil:
			a = arg(a)
		}
		argv = append(argv, a)
	}
	for k, v := range envOf(s) {
		if o, ok := env[k]; ok {
			v = o
		}
		environ = append(environ, k+"="+v)
	}
	return argv, environ
}

// bindSource returns the host path bound at target.
func bindSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			require.Equal(t, types.VolumeTypeBind, v.Type, "%s: %s", s.Name, target)
			require.True(t, v.ReadOnly, "%s: %s is mounted read-only", s.Name, target)
			return v.Source
		}
	}
	t.Fatalf("%s: nothing is mounted at %s", s.Name, target)
	return ""
}

// The worker gets exactly what it needs: its config file, the secrets that
// file names, and where Temporal is.
func TestComposeWorkerEnvironment(t *testing.T) {
	s := secrets()
	p := mustLoad(t, s)
	w := service(t, p, "worker")
	e := envOf(w)
	cfgPath := e["PROXMOX_TERMINATE_CONFIG"]
	require.Equal(t, "/etc/proxmox-terminate/config.yaml", cfgPath)
	require.Contains(t, w.Command, "--config="+cfgPath)
	src := bindSource(t, w, cfgPath)
	require.Equal(t, filepath.Join(root, "deploy", "config.docker.yaml"), src)

	names := envNames(t, src)
	require.ElementsMatch(t, []string{"TERMINATE_DB_DSN", "PVE_TOKEN_SECRET", "PDNS_API_KEY"}, names)
	for _, n := range names {
		require.Equal(t, s[n], e[n], "the worker gets %s", n)
	}
	// With exactly that environment the config is valid for the worker.
	for k, v := range e {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(src)
	require.NoError(t, err)
	require.Equal(t, "temporal:7233", cfg.Temporal.Address)
	require.Equal(t, "proxmox-terminate", cfg.Temporal.TaskQueue)
	for _, pc := range cfg.Proxmox {
		require.NotEmpty(t, pc.Fingerprint, "proxmox %s: the example pins the certificate", pc.Name)
		require.False(t, pc.Insecure)
	}

	// Another config file, by variable.
	env := secrets()
	env["PROXMOX_TERMINATE_CONFIG_FILE"] = "/srv/pt/config.yaml"
	require.Equal(t, "/srv/pt/config.yaml", bindSource(t, service(t, mustLoad(t, env), "worker"), cfgPath))

	require.Contains(t, w.ExtraHosts["host.docker.internal"], "host-gateway")
}

// envNames lists the variables a config file names in its *_env keys.
func envNames(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc any
	require.NoError(t, yaml.Unmarshal(b, &doc))
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && strings.HasSuffix(k, "_env") {
					out = append(out, s)
				}
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	walk(doc)
	return out
}

var (
	requiredVar = regexp.MustCompile(`\$\{([A-Z0-9_]+):\?`)
	optionalVar = regexp.MustCompile(`\$\{([A-Z0-9_]+):-`)
)

func composeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err)
	return string(b)
}

func uniq(m [][]string) []string {
	set := map[string]bool{}
	for _, x := range m {
		set[x[1]] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Secrets come from the environment only: each is required, has no
// default, and reaches only the services that need it.
func TestComposeSecrets(t *testing.T) {
	text := composeText(t)
	required := uniq(requiredVar.FindAllStringSubmatch(text, -1))
	require.ElementsMatch(t, slices.Collect(maps.Keys(secrets())), required)

	for _, name := range required {
		env := secrets()
		delete(env, name)
		_, err := loadCompose(t, env)
		require.Error(t, err, "compose must refuse to start without %s", name)
		require.Contains(t, err.Error(), name)
	}

	// Where each secret lands.
	s := secrets()
	p := mustLoad(t, s)
	wantIn := map[string][]string{
		"TEMPORAL_POSTGRES_PASSWORD": {"postgresql", "temporal", "temporal-admin-tools"},
		"TERMINATE_DB_DSN":           {"migrate", "worker"},
		"PVE_TOKEN_SECRET":           {"worker"},
		"PDNS_API_KEY":               {"worker"},
	}
	for name, value := range s {
		var got []string
		for _, svcName := range p.ServiceNames() {
			for _, v := range envOf(service(t, p, svcName)) {
				if strings.Contains(v, value) {
					got = append(got, svcName)
					break
				}
			}
		}
		require.ElementsMatch(t, wantIn[name], got, "services that receive %s", name)
	}

	// In the file itself every secret-looking setting is a reference.
	o, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithInterpolation(false))
	require.NoError(t, err)
	model, err := o.LoadModel(context.Background())
	require.NoError(t, err)
	secretKey := regexp.MustCompile(`(?i)(PASSWORD|PWD|SECRET|TOKEN|API_KEY|DSN)`)
	svcs := model["services"].(map[string]any)
	for svcName, raw := range svcs {
		envm, _ := raw.(map[string]any)["environment"].(map[string]any)
		for k, v := range envm {
			if secretKey.MatchString(k) {
				require.Regexp(t, `^\$\{[A-Z0-9_]+:\?[^}]+\}$`, v, "%s: %s must come from a required variable", svcName, k)
			}
		}
	}

	// deploy/env.example lists every required variable (uncommented) and
	// every optional one (commented, with its default).
	b, err := os.ReadFile(filepath.Join(root, "deploy", "env.example"))
	require.NoError(t, err)
	vars, err := dotenv.ParseWithLookup(strings.NewReader(string(b)), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.ElementsMatch(t, required, slices.Collect(maps.Keys(vars)))
	require.Equal(t, "terminate:CHANGE_ME@tcp(host.docker.internal:3306)/whmcs?parseTime=true&loc=UTC", vars["TERMINATE_DB_DSN"],
		"a DSN survives the .env syntax unquoted")
	for _, name := range uniq(optionalVar.FindAllStringSubmatch(text, -1)) {
		require.Regexp(t, regexp.MustCompile(`(?m)^#`+name+`=`), string(b), "env.example documents %s", name)
	}
}

// The compose file is the whole deployment: check nothing dangles.
func TestComposeHasNoUndeclaredVolumesOrNetworks(t *testing.T) {
	p := mustLoad(t, secrets())
	require.Contains(t, p.Volumes, "postgres-data")
	var mysqlData bool
	for _, v := range service(t, p, "postgresql").Volumes {
		if v.Target == "/var/lib/postgresql/data" {
			require.Equal(t, types.VolumeTypeVolume, v.Type, "MySQL data lives in a named volume, kept across `down`")
			require.Equal(t, "postgres-data", v.Source)
			mysqlData = true
		}
	}
	require.True(t, mysqlData)
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && !strings.HasPrefix(v.Source, "/srv/") {
				_, err := os.Stat(v.Source)
				require.NoError(t, err, "%s mounts %s", name, v.Source)
			}
		}
	}
}
