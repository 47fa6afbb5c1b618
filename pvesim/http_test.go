package pvesim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestErrorReasonPhraseOnTheWire(t *testing.T) {
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "running"})
	status, hdrs, body := rawHTTP(t, base, "DELETE", "/nodes/pve1/qemu/100", map[string]string{"Authorization": testAuth}, "")
	if status != "HTTP/1.1 500 VM 100 is running - destroy failed" {
		t.Fatalf("status line %q", status)
	}
	if body != `{"data":null,"message":"VM 100 is running - destroy failed\n"}` {
		t.Fatalf("body %q", body)
	}
	for _, h := range []string{"Connection: close", "Content-Type: application/json;charset=UTF-8", "Server: pve-api-daemon/3.0"} {
		if !strings.Contains(hdrs, h) {
			t.Errorf("missing header %q in\n%s", h, hdrs)
		}
	}
}

func TestGoClientSeesMessageInStatus(t *testing.T) {
	// go-proxmox returns errors.New(res.Status) for 500/501: the message must
	// be in the status line, also over a keep-alive client.
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "running"})
	for i := 0; i < 3; i++ {
		r := call(t, base, "DELETE", "/nodes/pve1/qemu/100", nil)
		wantStatus(t, r, "500 VM 100 is running - destroy failed")
		ok := call(t, base, "GET", "/version", nil)
		if ok.Code != 200 {
			t.Fatalf("request after error failed: %s", ok.Status)
		}
	}
}

func TestAuthentication(t *testing.T) {
	_, base := startSim(t, Options{Tokens: map[string]string{"root@pam!terminate": "s3cret", "svc@pve!ro": "x"}})
	cases := []struct{ auth, status string }{
		{"", "401 No ticket"},
		{"Bearer abc", "401 No ticket"},
		{"PVEAPIToken=root@pam!terminate=wrong", "401 invalid token value!"},
		{"PVEAPIToken=root@pam!other=s3cret", "401 no such token 'other' for user 'root@pam'"},
		{"PVEAPIToken=nobody@pam!terminate=s3cret", "401 no such user ('nobody@pam')"},
		{"PVEAPIToken=root@pam=s3cret", "401 'root@pam' is not a valid token ID - not able to split into user and token parts"},
		{"PVEAPIToken=root@pam!terminate", "401 no tokenid specified"},
		{"PVEAPIToken=root@pam!terminate=s3cret", "200 OK"},
		{"PVEAPIToken root@pam!terminate=s3cret", "200 OK"}, // space form accepted by extract_auth_value
	}
	for _, c := range cases {
		r := callWith(t, base, "GET", "/version", nil, c.auth)
		if r.Status != c.status {
			t.Errorf("auth %q: got %q want %q", c.auth, r.Status, c.status)
		}
		if r.Code == 401 && len(r.Raw) != 0 {
			t.Errorf("auth %q: 401 must have no body, got %q", c.auth, r.Raw)
		}
	}
	status, _, body := rawHTTP(t, base, "GET", "/version", nil, "")
	if status != "HTTP/1.1 401 No ticket" || body != "" {
		t.Fatalf("raw 401: %q %q", status, body)
	}
}

func TestUnknownRouteAndEarlyErrors(t *testing.T) {
	_, base := startSim(t, fastOpts())
	r := call(t, base, "GET", "/nodes/pve1/foo", nil)
	wantStatus(t, r, "501 Method 'GET /nodes/pve1/foo' not implemented")
	if r.Body["message"] != "Method 'GET /nodes/pve1/foo' not implemented" || r.Body["data"] != nil {
		t.Fatalf("body %s", r.Raw)
	}
	r = call(t, base, "PUT", "/version", nil)
	wantStatus(t, r, "501 Method 'PUT /version' not implemented")

	status, _, _ := rawHTTP(t, base, "GET", "/version", map[string]string{"Authorization": testAuth, "Content-Type": "application/x-www-form-urlencoded"}, "a=b")
	if status != "HTTP/1.1 501 Unexpected content for method 'GET'" {
		t.Fatalf("GET with body: %q", status)
	}
	status, _, _ = rawHTTP(t, strings.TrimSuffix(base, "/api2/json"), "GET", "/foo", nil, "")
	if status != "HTTP/1.1 501 no such file '/foo'" {
		t.Fatalf("non-API path: %q", status)
	}
	status, _, _ = rawHTTP(t, base, "PATCH", "/version", map[string]string{"Authorization": testAuth}, "")
	if status != "HTTP/1.1 501 method 'PATCH' not available" {
		t.Fatalf("PATCH: %q", status)
	}
	status, _, _ = rawHTTP(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", map[string]string{"Authorization": testAuth, "Content-Type": "text/plain"}, "x")
	if status != "HTTP/1.1 506 upload 'Content-Type 'text/plain' not implemented" {
		t.Fatalf("bad content type: %q", status)
	}
}

// decodeURLEncoded decodes as pve-http-server's Perl does: only '%' and two
// hex digits is an escape, and the decoded bytes need not be UTF-8 text.
func TestDecodeURLEncodedLikePerl(t *testing.T) {
	got := decodeURLEncoded("a=1&b=x+y;c=%41%zz%4&%%41=v&d=%C3%A9%ff&e=&f=a=b&r=1&r=2")
	want := map[string]pval{
		"a": {S: "1"}, "b": {S: "x y"}, "c": {S: "A%zz%4"}, "%A": {S: "v"}, "d": {S: "\xc3\xa9\xff"},
		"e": {Kind: pvNull}, "f": {S: "a"}, "r": {S: "1\x002"},
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys %+v, want %d", len(got), got, len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%q: got %+v, want %+v", k, got[k], w)
		}
	}
}

func TestParameterVerification(t *testing.T) {
	_, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "stopped"})
	r := call(t, base, "DELETE", "/nodes/pve1/qemu/100", url.Values{"bogus": {"1"}})
	wantStatus(t, r, "400 Parameter verification failed.")
	errs, _ := r.Body["errors"].(map[string]any)
	if errs["bogus"] != "property is not defined in schema and the schema does not allow additional properties" {
		t.Fatalf("errors %s", r.Raw)
	}
	if r.Body["message"] != "Parameter verification failed.\n" || r.Body["data"] != nil {
		t.Fatalf("body %s", r.Raw)
	}

	r = call(t, base, "DELETE", "/nodes/pve1/qemu/100", url.Values{"purge": {"true"}})
	wantStatus(t, r, "400 Parameter verification failed.")
	if e := r.Body["errors"].(map[string]any)["purge"]; e != "type check ('boolean') failed - got 'true'" {
		t.Fatalf("boolean error %q", e)
	}
	r = call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"soon"}})
	if e := r.Body["errors"].(map[string]any)["timeout"]; e != "type check ('integer') failed - got 'soon'" {
		t.Fatalf("integer error %q", e)
	}
	r = call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"timeout": {"-1"}})
	if e := r.Body["errors"].(map[string]any)["timeout"]; e != "value must have a minimum value of 0" {
		t.Fatalf("minimum error %q", e)
	}
	r = call(t, base, "GET", "/cluster/resources", url.Values{"type": {"qemu"}})
	if e := r.Body["errors"].(map[string]any)["type"]; e != "value 'qemu' does not have a value in the enumeration 'vm, storage, node, sdn'" {
		t.Fatalf("enum error %q", e)
	}
	r = call(t, base, "GET", "/nodes/pve1/qemu/99/status/current", nil)
	if e := r.Body["errors"].(map[string]any)["vmid"]; e != "invalid format - value does not look like a valid VM ID\n" {
		t.Fatalf("vmid format error %q", e)
	}
	r = call(t, base, "GET", "/nodes/pve1/qemu/abc/status/current", nil)
	if e := r.Body["errors"].(map[string]any)["vmid"]; e != "type check ('integer') failed - got 'abc'" {
		t.Fatalf("vmid type error %q", e)
	}
	r = call(t, base, "DELETE", "/nodes/pve1/qemu/100", url.Values{"vmid": {"101"}})
	if e := r.Body["errors"].(map[string]any)["vmid"]; e != "duplicate parameter (already defined in URI) with conflicting values!" {
		t.Fatalf("duplicate error %q", e)
	}
	// 0/1 accepted, JSON booleans accepted, JSON string "true" rejected.
	if r := call(t, base, "GET", "/nodes/pve1/storage", url.Values{"enabled": {"1"}}); r.Code != 200 {
		t.Fatalf("enabled=1: %s", r.Status)
	}
	if r := callJSON(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", map[string]any{"keepActive": false, "timeout": 5}); r.Code != 200 {
		t.Fatalf("JSON body: %s %s", r.Status, r.Raw)
	}
	r = callJSON(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", map[string]any{"keepActive": "true"})
	if e := r.Body["errors"].(map[string]any)["keepActive"]; e != "type check ('boolean') failed - got 'true'" {
		t.Fatalf("JSON string boolean: %s", r.Raw)
	}
	r = callJSON(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", map[string]any{"timeout": true})
	if e := r.Body["errors"].(map[string]any)["timeout"]; e != "type check ('integer') failed - got JSON::PP::Boolean" {
		t.Fatalf("JSON bool for integer: %s", r.Raw)
	}
}

func TestOverruleShutdownGatedByRelease(t *testing.T) {
	for _, c := range []struct {
		release string
		code    int
	}{{"7.4", 400}, {"8.1", 400}, {"8.2", 200}} {
		opts := fastOpts()
		opts.Release = c.release
		_, base := startSim(t, opts, VMSpec{Node: "pve1", VMID: 100, Status: "stopped"})
		r := call(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", url.Values{"overrule-shutdown": {"1"}})
		if r.Code != c.code {
			t.Fatalf("release %s: %s %s", c.release, r.Status, r.Raw)
		}
		if c.code == 400 && r.Body["errors"].(map[string]any)["overrule-shutdown"] != "property is not defined in schema and the schema does not allow additional properties" {
			t.Fatalf("release %s: %s", c.release, r.Raw)
		}
		v := call(t, base, "GET", "/version", nil).dataMap(t)
		if v["release"] != c.release {
			t.Fatalf("version %v", v)
		}
	}
}

func TestHandlerWithHTTPTest(t *testing.T) {
	s := New(fastOpts())
	if err := s.AddVM(VMSpec{Node: "pve1", VMID: 100}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	r := call(t, ts.URL+"/api2/json", "DELETE", "/nodes/pve1/qemu/100", nil)
	wantStatus(t, r, "500 VM 100 is running - destroy failed")

	// A ResponseRecorder cannot be hijacked: standard reason, same body.
	req := httptest.NewRequest("DELETE", "/api2/json/nodes/pve1/qemu/100", nil)
	req.Header.Set("Authorization", testAuth)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "destroy failed") {
		t.Fatalf("recorder: %d %s", rec.Code, rec.Body)
	}
}

func TestRequestsRecordedAndConform(t *testing.T) {
	s, base := startSim(t, fastOpts(), VMSpec{Node: "pve1", VMID: 100, Status: "stopped"})
	call(t, base, "GET", "/cluster/resources", url.Values{"type": {"vm"}})
	callJSON(t, base, "POST", "/nodes/pve1/qemu/100/status/stop", map[string]any{"timeout": 3, "keepActive": false})
	call(t, base, "DELETE", "/nodes/pve1/qemu/100", url.Values{"purge": {"1"}})
	call(t, base, "DELETE", "/nodes/pve1/qemu/100", url.Values{"purge": {"yes"}})
	reqs := s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	var bad int
	for _, r := range reqs {
		if err := CheckRequest(r.Method, r.Path, r.Params); err != nil {
			bad++
			if !strings.Contains(err.Error(), "purge: type check ('boolean') failed - got 'yes'") {
				t.Errorf("unexpected violation: %v", err)
			}
		}
	}
	if bad != 1 {
		t.Fatalf("%d non-conforming requests, want 1", bad)
	}
	calls := s.Calls()
	if calls["DELETE /nodes/{node}/qemu/{vmid}"] != 2 || calls["GET /cluster/resources"] != 1 {
		t.Fatalf("calls %v", calls)
	}
	if reqs[1].Route != "/nodes/{node}/qemu/{vmid}/status/stop" || !reqs[1].JSON || reqs[1].Params.Get("keepActive") != "0" {
		t.Fatalf("recorded %+v", reqs[1])
	}
	s.ResetRecording()
	if len(s.Requests()) != 0 || len(s.Calls()) != 0 {
		t.Fatal("recording not reset")
	}
}

func TestUnauthorizedDelay(t *testing.T) {
	opts := fastOpts()
	opts.UnauthorizedDelay = 30 * time.Millisecond
	_, base := startSim(t, opts)
	req, _ := http.NewRequest("GET", base+"/version", nil)
	start := time.Now()
	r := doReq(t, req)
	if r.Code != 401 || time.Since(start) < opts.UnauthorizedDelay {
		t.Fatalf("401 not delayed: %s", r.Status)
	}
}
