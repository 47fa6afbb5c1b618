package core

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	// MaxResponseBytes caps how much of a response body is read.
	MaxResponseBytes = 32 << 20
	// MaxLoggedBytes caps the request/response text handed to the Observer.
	MaxLoggedBytes = 16 << 10
	// redacted replaces every secret occurrence.
	redacted = "REDACTED"
)

// Client performs the HTTP calls of one provider: a per-call timeout, no
// redirects (so credentials never follow one), a bounded body, one Observer
// call per request, and secret redaction of everything it reports.
type Client struct {
	label   string
	hc      *http.Client
	timeout time.Duration
	obs     Observer
	secrets []string // every spelling of every secret, longest first
}

// NewClient builds the client for cfg. obs may be nil.
func NewClient(cfg ProviderConfig, obs Observer) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Concurrent cleanups share the provider: keep their connections (and
	// TLS sessions) for reuse rather than the default two per host.
	tr.MaxIdleConnsPerHost = 16
	if cfg.InsecureTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in for self-signed panels
	}
	return &Client{
		label:   cfg.Label(),
		timeout: cfg.EffectiveTimeout(),
		obs:     obs,
		secrets: secretSpellings(cfg.SecretValues()),
		hc: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// secretSpellings expands each secret into the forms it may take inside a
// URL, a form body or a JSON document.
func secretSpellings(values []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		if v == "" {
			continue
		}
		js, _ := json.Marshal(v)
		for _, s := range []string{v, url.QueryEscape(v), url.PathEscape(v), strings.Trim(string(js), `"`)} {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// Redact replaces every secret of this provider in s.
func (c *Client) Redact(s string) string {
	for _, sec := range c.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// Timeout is the per-call timeout.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Request is one HTTP request.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// LogBody is what the Observer sees as the request; when empty, Body is
	// shown. Either way it is redacted again before it leaves.
	LogBody string
}

// Response is a complete HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error is a redacted error for one failed call: no response, an error
// status, or an undecodable answer. Its text never contains a secret.
type Error struct {
	Status int    // HTTP status, 0 when no response
	Msg    string // redacted description
	// Timeout is true when the call ran out of time (per call or budget).
	Timeout bool
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds a redacted *Error for a response status.
func (c *Client) Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: c.Redact(fmt.Sprintf(format, args...))}
}

// Do performs req under a per-call timeout and ctx. A non-2xx status is not
// an error here: the provider interprets it. The returned error is always
// an *Error and is redacted.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	call := Call{Provider: c.label, Method: req.Method, URL: c.Redact(req.URL)}
	logBody := req.LogBody
	if logBody == "" && len(req.Body) > 0 {
		logBody = string(req.Body)
	}
	call.Request = truncate(c.Redact(logBody))

	resp, err := c.do(ctx, req)
	call.Duration = time.Since(start)
	if resp != nil {
		call.Status = resp.Status
		call.Response = truncate(c.Redact(string(resp.Body)))
	}
	if err != nil {
		call.Err = err.Error()
	}
	if c.obs != nil {
		c.obs(call)
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, req Request) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.ctxError(ctx, nil)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(callCtx, req.Method, req.URL, body)
	if err != nil {
		return nil, &Error{Msg: c.Redact("bad request: " + err.Error())}
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if hr.Header.Get("User-Agent") == "" {
		hr.Header.Set("User-Agent", "proxmox-terminate-dns/1")
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil || callCtx.Err() != nil {
			return nil, c.ctxError(ctx, callCtx)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is logged separately; keep the cause
		}
		return nil, &Error{Msg: c.Redact("request failed: " + err.Error())}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	out := &Response{Status: res.StatusCode, Header: res.Header, Body: data}
	if err != nil {
		if ctx.Err() != nil || callCtx.Err() != nil {
			return out, c.ctxError(ctx, callCtx)
		}
		return out, &Error{Status: res.StatusCode, Msg: c.Redact("reading response: " + err.Error())}
	}
	if len(data) > MaxResponseBytes {
		out.Body = data[:MaxResponseBytes]
		return out, &Error{Status: res.StatusCode, Msg: fmt.Sprintf("response larger than %d bytes", MaxResponseBytes)}
	}
	return out, nil
}

// ctxError explains which deadline ended the call.
func (c *Client) ctxError(parent, call context.Context) error {
	switch {
	case errors.Is(parent.Err(), context.DeadlineExceeded):
		return &Error{Msg: "provider time budget exhausted", Timeout: true}
	case parent.Err() != nil:
		return &Error{Msg: "cancelled"}
	case call != nil && errors.Is(call.Err(), context.DeadlineExceeded):
		return &Error{Msg: fmt.Sprintf("no answer within %s (timeout)", c.timeout), Timeout: true}
	}
	return &Error{Msg: "cancelled"}
}

func truncate(s string) string {
	if len(s) <= MaxLoggedBytes {
		return s
	}
	return strings.ToValidUTF8(s[:MaxLoggedBytes], "") + fmt.Sprintf("…(%d more bytes)", len(s)-MaxLoggedBytes)
}

// Snippet shortens a response body for an error message: trimmed, one
// line, at most 200 bytes.
func Snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
