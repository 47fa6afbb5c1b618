package whmcs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// browser drives Debian's headless Chromium through chromedriver's W3C
// WebDriver endpoints: just what the page tests need.
type browser struct {
	t       *testing.T
	base    string // chromedriver's session URL
	session string
}

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// startProc starts a server on a free loopback address (args gets it) and
// waits until it listens; it is killed in t.Cleanup.
func startProc(t *testing.T, name, path string, env []string, args func(addr string) []string) string {
	t.Helper()
	addr := testenv.Addr(t)
	p := &testenv.Proc{Name: name, Path: path, Args: args(addr), Env: env, Out: &testenv.Buffer{}, Group: true}
	require.NoError(t, p.Start())
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitPort(ctx, addr), "%s did not listen on %s", name, addr)
	return addr
}

// newBrowser starts chromedriver and a headless Chromium session; both stop
// in t.Cleanup.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromedriver"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is required for the page tests: apt-get install -y chromium chromium-driver", p)
		}
	}
	addr := startProc(t, "chromedriver", "/usr/bin/chromedriver", nil, func(addr string) []string {
		return []string{"--port=" + addr[strings.LastIndex(addr, ":")+1:]}
	})
	b := &browser{t: t, base: "http://" + addr}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	b.call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{"binary": "/usr/bin/chromium", "args": []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--window-size=1400,900", "--user-data-dir=" + t.TempDir(),
		}},
	}}}, &created)
	require.NotEmpty(t, created.SessionID)
	b.session = "/session/" + created.SessionID
	t.Cleanup(func() { b.call("DELETE", b.session, nil, nil) })
	return b
}

func (b *browser) call(method, path string, body, value any) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		require.NoError(b.t, err)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	require.Equal(b.t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, raw)
	if value != nil {
		var env struct {
			Value json.RawMessage `json:"value"`
		}
		require.NoError(b.t, json.Unmarshal(raw, &env))
		require.NoError(b.t, json.Unmarshal(env.Value, value), "%s", raw)
	}
}

func (b *browser) open(url string) { b.call("POST", b.session+"/url", map[string]any{"url": url}, nil) }

// eval runs JavaScript in the page and decodes its return value.
func (b *browser) eval(script string, out any, args ...any) {
	if args == nil {
		args = []any{}
	}
	b.call("POST", b.session+"/execute/sync", map[string]any{"script": script, "args": args}, out)
}

func (b *browser) click(css string) {
	b.t.Helper()
	var found map[string]string
	b.call("POST", b.session+"/element", map[string]any{"using": "css selector", "value": css}, &found)
	require.NotEmpty(b.t, found[elementKey], "%s: %v", css, found)
	b.call("POST", b.session+"/element/"+found[elementKey]+"/click", map[string]any{}, nil)
}

// screenshot writes a PNG of the page to dir/name when dir is not "".
func (b *browser) screenshot(dir, name string) {
	b.t.Helper()
	var data string
	b.call("GET", b.session+"/screenshot", nil, &data)
	png, err := base64.StdEncoding.DecodeString(data)
	require.NoError(b.t, err)
	require.True(b.t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG")
	if dir != "" {
		require.NoError(b.t, os.WriteFile(dir+"/"+name, png, 0o644))
	}
}
