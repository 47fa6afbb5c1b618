package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-shellwords"
	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	return out
}

// stages splits the instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.Cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

func args(in []instruction, cmd string) []string {
	var out []string
	for _, i := range in {
		if i.Cmd == cmd {
			out = append(out, i.Args)
		}
	}
	return out
}

// execForm parses a JSON-array (exec form) argument.
func execForm(t *testing.T, s string) []string {
	t.Helper()
	var v []string
	require.NoError(t, json.Unmarshal([]byte(s), &v), "exec form expected: %s", s)
	return v
}

// goBuild is the Dockerfile's `go build` command and its environment.
type goBuild struct {
	env  []string
	args []string // after "go"
	out  string   // the -o directory
	pkgs []string
}

func dockerGoBuild(t *testing.T) goBuild {
	t.Helper()
	st := stages(parseDockerfile(t))
	require.GreaterOrEqual(t, len(st), 2, "multi-stage build")
	var b goBuild
	for _, e := range args(st[0], "ENV") {
		for _, kv := range strings.Fields(e) {
			require.Contains(t, kv, "=", "ENV key=value form")
			b.env = append(b.env, kv)
		}
	}
	for _, r := range args(st[0], "RUN") {
		i := strings.Index(r, "go build")
		if i < 0 {
			continue
		}
		words, err := shellwords.Parse(r[i:])
		require.NoError(t, err)
		b.args = words[1:]
	}
	require.NotEmpty(t, b.args, "the build stage runs go build")
	for i := 1; i < len(b.args); i++ {
		a := b.args[i]
		switch {
		case a == "-o":
			b.out = b.args[i+1]
			i++
		case strings.HasPrefix(a, "./"):
			b.pkgs = append(b.pkgs, a)
		}
	}
	return b
}

func TestDockerfile(t *testing.T) {
	st := stages(parseDockerfile(t))
	require.Len(t, st, 2, "a build stage and a runtime stage")
	build, final := st[0], st[len(st)-1]

	// Build stage: the Go of go.mod, static.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	require.NotNil(t, goLine)
	ins := parseDockerfile(t)
	require.Equal(t, "ARG", ins[0].Cmd)
	require.Equal(t, "GO_VERSION="+goLine[1], ins[0].Args, "the golang image follows go.mod's go line")
	require.Equal(t, "golang:${GO_VERSION} AS build", build[0].Args)
	b := dockerGoBuild(t)
	require.Contains(t, b.env, "CGO_ENABLED=0", "static binaries")
	require.ElementsMatch(t, []string{"./worker", "./starter", "./deploy/healthcheck"}, b.pkgs)

	// Runtime stage: distroless, non-root, health check, the worker.
	require.Equal(t, "gcr.io/distroless/static-debian12:nonroot", final[0].Args)
	require.Equal(t, []string{"--from=build /out/worker /out/starter /out/healthcheck /usr/local/bin/"}, args(final, "COPY"))
	require.Equal(t, []string{"65532:65532"}, args(final, "USER"), "distroless's nonroot user")
	hc := args(final, "HEALTHCHECK")
	require.Len(t, hc, 1)
	_, cmd, ok := strings.Cut(hc[0], "CMD ")
	require.True(t, ok, hc[0])
	require.Equal(t, []string{"/usr/local/bin/healthcheck"}, execForm(t, cmd))
	require.Equal(t, []string{"/usr/local/bin/worker"}, execForm(t, args(final, "ENTRYPOINT")[0]))
	require.Equal(t, []string{"--http-addr=0.0.0.0:9090"}, execForm(t, args(final, "CMD")[0]))
	require.Equal(t, []string{"9090"}, args(final, "EXPOSE"))
	envs := strings.Join(args(final, "ENV"), " ")
	require.Contains(t, envs, "HEALTHCHECK_URL=http://127.0.0.1:9090/healthz")
	require.Contains(t, envs, "PROXMOX_TERMINATE_CONFIG=/etc/proxmox-terminate/config.yaml")

	// Nothing secret is baked in.
	secretName := regexp.MustCompile(`(?i)(PASSWORD|PWD|SECRET|TOKEN|API_KEY|DSN)`)
	for _, in := range ins {
		if in.Cmd == "ENV" || in.Cmd == "ARG" {
			require.NotRegexp(t, secretName, in.Args)
		}
	}
}

// dockerignore is a .dockerignore matcher for the patterns it uses
// (*, ?, **, directory patterns, ! exceptions).
type dockerignore struct {
	pats []*regexp.Regexp
	neg  []bool
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	var d dockerignore
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		line = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		d.pats = append(d.pats, regexp.MustCompile(re.String()))
		d.neg = append(d.neg, neg)
	}
	return d
}

// excluded reports whether rel (slash-separated, relative to the context)
// or one of its parent directories is excluded.
func (d dockerignore) excluded(rel string) bool {
	parts := strings.Split(rel, "/")
	for i := 1; i <= len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		ex := false
		for j, re := range d.pats {
			if re.MatchString(p) {
				ex = !d.neg[j]
			}
		}
		if ex {
			return true
		}
	}
	return false
}

func TestDockerignore(t *testing.T) {
	d := loadDockerignore(t)
	for _, p := range []string{".env", "prod.env", "deploy/prod.env", "deploy/worker.env", "config.yaml", ".git/config", "bin/temporal", "deploy/whmcs/module_test.go", "dns/dns_test.go"} {
		require.True(t, d.excluded(p), "%s must not reach the build context", p)
	}
	// Everything the image's go build reads is in the context.
	b := dockerGoBuild(t)
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module"}, b.pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), b.env...)
	out, err := cmd.Output()
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Module              *struct{ Path string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		if p.Module == nil || p.Module.Path != "github.com/proxmox-terminate/proxmox-terminate" {
			continue
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			rel, err := filepath.Rel(root, filepath.Join(p.Dir, f))
			require.NoError(t, err)
			require.False(t, d.excluded(filepath.ToSlash(rel)), "%s is needed by the image build but .dockerignore excludes it", rel)
			n++
		}
	}
	require.Greater(t, n, 10)
	for _, f := range []string{"go.mod", "go.sum", "Dockerfile"} {
		require.False(t, d.excluded(f), f)
	}
}

var (
	imageOnce sync.Once
	imageDir  string
	imageErr  error
)

// imageBinaries runs the Dockerfile's own go build (its ENV, flags and
// packages) into a temporary directory, once per test binary.
func imageBinaries(t *testing.T) string {
	t.Helper()
	b := dockerGoBuild(t)
	imageOnce.Do(func() {
		imageDir, imageErr = os.MkdirTemp("", "pt-image-")
		if imageErr != nil {
			return
		}
		a := append([]string(nil), b.args...)
		for i := range a {
			if a[i] == b.out {
				a[i] = imageDir + "/"
			}
		}
		cmd := exec.Command("go", a...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("%v: %v\n%s", a, err, out)
		}
	})
	require.NoError(t, imageErr)
	return imageDir
}

func TestImageBinariesAreStatic(t *testing.T) {
	dir := imageBinaries(t)
	for _, name := range []string{"worker", "starter", "healthcheck"} {
		f, err := elf.Open(filepath.Join(dir, name))
		require.NoError(t, err, name)
		for _, p := range f.Progs {
			require.NotEqual(t, elf.PT_INTERP, p.Type, "%s needs a dynamic loader: distroless/static has none", name)
		}
		libs, _ := f.ImportedLibraries()
		require.Empty(t, libs, name)
		f.Close()
	}
}

// healthcheck runs the image's health probe as Docker would (args, env).
func healthcheck(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	code, err := testenv.ExitCode(err)
	require.NoError(t, err)
	return code, string(out)
}

func TestHealthcheckProbe(t *testing.T) {
	bin := filepath.Join(imageBinaries(t), "healthcheck")
	var mu sync.Mutex
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if status != http.StatusOK {
			http.Error(w, "temporal: unreachable", status)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	url := srv.URL + "/healthz"

	code, out := healthcheck(t, bin, nil, url)
	require.Equal(t, 0, code, out)
	code, _ = healthcheck(t, bin, []string{"HEALTHCHECK_URL=" + url})
	require.Equal(t, 0, code, "HEALTHCHECK_URL (the Dockerfile's HEALTHCHECK has no argument)")
	code, _ = healthcheck(t, bin, nil, srv.URL+"/other")
	require.Equal(t, 1, code)

	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	code, out = healthcheck(t, bin, nil, url)
	require.Equal(t, 1, code)
	require.Contains(t, out, "503")
	require.Contains(t, out, "temporal: unreachable")

	code, out = healthcheck(t, bin, nil, fmt.Sprintf("http://127.0.0.1:%d/healthz", testenv.Port(t)))
	require.Equal(t, 1, code, out)
	code, out = healthcheck(t, bin, []string{"HEALTHCHECK_TIMEOUT=bogus"}, url)
	require.Equal(t, 1, code, out)
}
