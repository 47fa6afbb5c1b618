package pvesim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

const testAuth = "PVEAPIToken=" + DefaultTokenID + "=" + DefaultTokenSecret

// fastOpts keeps every simulated wait in the millisecond range.
func fastOpts() Options {
	return Options{Second: time.Millisecond, LockWait: 40 * time.Millisecond}
}

// startSim starts a simulator on a free port and returns it with its base
// URL (http://127.0.0.1:port/api2/json).
func startSim(t *testing.T, opts Options, vms ...VMSpec) (*Sim, string) {
	t.Helper()
	s := New(opts)
	for _, v := range vms {
		if err := s.AddVM(v); err != nil {
			t.Fatal(err)
		}
	}
	base, err := s.Start("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, base
}

type apiResult struct {
	Code   int
	Status string // "500 VM 100 is running - destroy failed"
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r apiResult) data() any { return r.Body["data"] }

func (r apiResult) dataMap(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.Body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is not an object: %s", r.Raw)
	}
	return m
}

func (r apiResult) dataList(t *testing.T) []map[string]any {
	t.Helper()
	l, ok := r.Body["data"].([]any)
	if !ok {
		t.Fatalf("data is not a list: %s", r.Raw)
	}
	out := make([]map[string]any, len(l))
	for i, x := range l {
		out[i], _ = x.(map[string]any)
	}
	return out
}

func (r apiResult) str(t *testing.T) string {
	t.Helper()
	s, ok := r.Body["data"].(string)
	if !ok {
		t.Fatalf("data is not a string: %s (%s)", r.Raw, r.Status)
	}
	return s
}

// call does an API request with the default token. Parameters go to the
// query string for GET/DELETE and to a form body for POST/PUT.
func call(t *testing.T, base, method, path string, params url.Values) apiResult {
	t.Helper()
	return callWith(t, base, method, path, params, testAuth)
}

func callWith(t *testing.T, base, method, path string, params url.Values, auth string) apiResult {
	t.Helper()
	u := base + path
	var body io.Reader
	if len(params) > 0 {
		if method == "GET" || method == "DELETE" {
			u += "?" + params.Encode()
		} else {
			body = strings.NewReader(params.Encode())
		}
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return doReq(t, req)
}

func callJSON(t *testing.T, base, method, path string, payload any) apiResult {
	t.Helper()
	b, _ := json.Marshal(payload)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", testAuth)
	return doReq(t, req)
}

func doReq(t *testing.T, req *http.Request) apiResult {
	t.Helper()
	res, raw := testenv.Do(t, req)
	r := apiResult{Code: res.StatusCode, Status: res.Status, Header: res.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("body is not JSON: %q", raw)
		}
	}
	return r
}

// rawHTTP sends a hand-written HTTP/1.1 request over TCP and returns the
// status line exactly as received, the header block and the body.
func rawHTTP(t *testing.T, base, method, path string, headers map[string]string, body string) (string, string, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, u.Path+path, u.Host)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	head, rest, _ := strings.Cut(string(all), "\r\n\r\n")
	status, hdrs, _ := strings.Cut(head, "\r\n")
	return status, hdrs, rest
}

// waitTask polls a task until it stops and returns its final status object.
func waitTask(t *testing.T, base, node, upid string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := taskStatus(t, base, node, upid)
		if d["status"] == "stopped" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still running", upid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// taskStatus is the task's status object as GET .../tasks/{upid}/status
// answers it.
func taskStatus(t *testing.T, base, node, upid string) map[string]any {
	t.Helper()
	r := call(t, base, "GET", "/nodes/"+node+"/tasks/"+upid+"/status", nil)
	if r.Code != 200 {
		t.Fatalf("task status: %s %s", r.Status, r.Raw)
	}
	return r.dataMap(t)
}

func vmStatus(t *testing.T, base, node string, vmid int) map[string]any {
	t.Helper()
	r := call(t, base, "GET", fmt.Sprintf("/nodes/%s/qemu/%d/status/current", node, vmid), nil)
	if r.Code != 200 {
		t.Fatalf("status/current: %s %s", r.Status, r.Raw)
	}
	return r.dataMap(t)
}

func wantStatus(t *testing.T, r apiResult, status string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status line %q, want %q (body %s)", r.Status, status, r.Raw)
	}
}

func wantExit(t *testing.T, st map[string]any, exit string) {
	t.Helper()
	if st["exitstatus"] != exit {
		t.Fatalf("exitstatus %q, want %q", st["exitstatus"], exit)
	}
}

// taskLog is the log the simulator keeps for the task upid.
func taskLog(s *Sim, upid string) []string {
	var log []string
	for _, ti := range s.Tasks() {
		if ti.UPID == upid {
			log = ti.Log
		}
	}
	return log
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}
