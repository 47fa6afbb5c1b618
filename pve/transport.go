package pve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Call describes one HTTP exchange with Proxmox for the module log. It holds
// no header, so the API token never reaches it.
type Call struct {
	Server   string // configured server name
	Method   string
	Path     string // path below /api2/json, with the query string
	Request  string // request body (form or JSON); empty for GET/DELETE
	Status   int    // 0 when no response arrived
	Response string // response body, truncated
	Err      string
	Duration time.Duration
}

// Observer receives every Call with the request's context (which carries
// whatever the caller put there, e.g. the service being terminated); it
// must be safe for concurrent use.
type Observer func(ctx context.Context, c Call)

const maxLoggedBody = 4096

// captureTransport sits under the go-proxmox client. It reports each exchange
// to the observer, and it turns every non-2xx answer into *Error, because the
// library hides the status of 404/595/596, folds 401 and 403 together, and
// drops the body of 500s.
type captureTransport struct {
	base   http.RoundTripper
	server string
	prefix string // "/api2/json"
	obs    Observer
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	var reqBody string
	if req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rc, maxLoggedBody))
			_ = rc.Close()
			reqBody = string(b)
		}
	}
	path := strings.TrimPrefix(req.URL.Path, t.prefix)
	if req.URL.RawQuery != "" {
		path += "?" + req.URL.RawQuery
	}
	call := Call{Server: t.server, Method: req.Method, Path: path, Request: reqBody}
	report := func() {
		call.Duration = time.Since(start)
		if t.obs != nil {
			t.obs(req.Context(), call)
		}
	}

	res, err := t.base.RoundTrip(req)
	if err != nil {
		call.Err = err.Error()
		report()
		return nil, err
	}
	body, rerr := io.ReadAll(res.Body)
	_ = res.Body.Close()
	call.Status = res.StatusCode
	call.Response = truncate(string(body), maxLoggedBody)
	if rerr != nil {
		call.Err = rerr.Error()
		report()
		return nil, rerr
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		apiErr := parseError(res, body)
		call.Err = apiErr.Error()
		report()
		return nil, apiErr
	}
	report()
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// parseError reads Proxmox's error conventions: the reason phrase of the
// status line is the message (pve-http-server), the body may repeat it as
// "message", and 400s carry per-parameter "errors".
func parseError(res *http.Response, body []byte) *Error {
	e := &Error{Status: res.StatusCode}
	reason := strings.TrimSpace(strings.TrimPrefix(res.Status, strconv.Itoa(res.StatusCode)))
	var env struct {
		Message string            `json:"message"`
		Errors  map[string]string `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Params = env.Errors
		e.Message = strings.TrimSpace(env.Message)
	}
	if e.Message == "" {
		e.Message = reason
	}
	if e.Message == http.StatusText(res.StatusCode) && reason != "" {
		e.Message = reason
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(truncated)"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
