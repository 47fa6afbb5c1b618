// Package pve is the only place that talks to Proxmox VE. It wraps
// github.com/luthermonson/go-proxmox and works around its gaps: failed tasks
// are reported as errors, booleans go as "1"/"0", every HTTP error keeps its
// status and Proxmox's reason, and calls carry timeouts.
package pve

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"github.com/proxmox-terminate/proxmox-terminate/internal/secret"
)

// Config is one Proxmox cluster (or standalone node) as operators configure it.
type Config struct {
	Name           string        `yaml:"name" json:"name"`                         // the name VM rows refer to
	URL            string        `yaml:"url" json:"url"`                           // https://pve.example.com:8006
	TokenID        string        `yaml:"token_id" json:"token_id"`                 // user@realm!tokenid
	TokenSecret    string        `yaml:"token_secret" json:"token_secret"`         // the token's UUID secret
	TokenSecretEnv string        `yaml:"token_secret_env" json:"token_secret_env"` // or: the env var that holds it
	CAFile         string        `yaml:"ca_file" json:"ca_file"`                   // PEM bundle to verify the cluster
	Fingerprint    string        `yaml:"fingerprint" json:"fingerprint"`           // SHA-256 of the server certificate, "AA:BB:..."
	Insecure       bool          `yaml:"insecure" json:"insecure"`                 // skip TLS verification (lab only)
	Timeout        time.Duration `yaml:"timeout" json:"timeout"`                   // per HTTP call; default 30s
	// NodeConcurrency bounds, per node and per worker process, the state
	// changes in flight, in two separate budgets of this size: shutdown and
	// stop requests (a slot is held for the request only), and DELETEs (a
	// slot is held for the DELETE and its whole destroy task). Default 8; a
	// fleet run then cannot flood a node, and long destroys never hold up a
	// stop.
	NodeConcurrency int `yaml:"node_concurrency" json:"node_concurrency"`
	// WaitTick is how often a call waiting for a node slot reports that it
	// still waits (default 2s); not configurable in the YAML file.
	WaitTick time.Duration `yaml:"-" json:"-"`
}

// Secret returns the token secret, from the file or the environment.
func (c Config) Secret() string { return secret.Value(c.TokenSecret, c.TokenSecretEnv) }

// Validate checks the configuration without ever echoing the secret.
func (c Config) Validate() error {
	var problems []string
	if c.Name == "" {
		problems = append(problems, "name is empty")
	}
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("url %q is not an http(s) URL", c.URL))
	}
	if !strings.Contains(c.TokenID, "@") || !strings.Contains(c.TokenID, "!") {
		problems = append(problems, fmt.Sprintf("token_id %q is not of the form user@realm!tokenid", c.TokenID))
	}
	if p := secret.Problem("token_secret", c.TokenSecret, c.TokenSecretEnv); p != "" {
		problems = append(problems, p)
	}
	if c.Fingerprint != "" {
		if _, err := parseFingerprint(c.Fingerprint); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if c.Insecure && (c.Fingerprint != "" || c.CAFile != "") {
		problems = append(problems, "insecure cannot be combined with fingerprint or ca_file")
	}
	if c.Timeout < 0 {
		problems = append(problems, "timeout is negative")
	}
	if c.NodeConcurrency < 0 {
		problems = append(problems, "node_concurrency is negative")
	}
	if len(problems) > 0 {
		return fmt.Errorf("proxmox server %q: %s", c.Name, strings.Join(problems, "; "))
	}
	return nil
}

// Client talks to one Proxmox cluster.
type Client struct {
	name string
	api  *proxmox.Client

	verOnce sync.Mutex
	release string // cached /version release, "" until read

	limit    int
	waitTick time.Duration
	semMu    sync.Mutex
	state    map[string]*slots // per node: shutdown and stop requests
	destroy  map[string]*slots // per node: each DELETE with its destroy task
}

// DefaultNodeConcurrency is NodeConcurrency's default.
const DefaultNodeConcurrency = 8

// DefaultWaitTick is how often a call waiting for a node slot reports that
// it still waits (Config.WaitTick's default).
const DefaultWaitTick = 2 * time.Second

func (c *Client) slotsFor(m map[string]*slots, node string) *slots {
	c.semMu.Lock()
	defer c.semMu.Unlock()
	s, ok := m[node]
	if !ok {
		s = &slots{free: c.limit}
		m[node] = s
	}
	return s
}

// AcquireNode takes one of node's destroy slots for a DELETE and its
// destroy task, waiting in line until one is free or ctx ends; the caller
// must call release. onWait, when set, is called every WaitTick while
// waiting (activities heartbeat there). Destroys have their own budget:
// however long they hold it, shutdown and stop requests never wait for them.
func (c *Client) AcquireNode(ctx context.Context, node string, onWait func()) (release func(), err error) {
	return c.slotsFor(c.destroy, node).acquire(ctx, c.waitTick, onWait, node)
}

// acquireState takes one of node's slots for a shutdown or stop request,
// held only for the request itself. The wait reports through the hook of
// WithQueueWait, if ctx has one.
func (c *Client) acquireState(ctx context.Context, node string) (release func(), err error) {
	onWait, _ := ctx.Value(queueWaitKey{}).(func())
	return c.slotsFor(c.state, node).acquire(ctx, c.waitTick, onWait, node)
}

type queueWaitKey struct{}

// WithQueueWait returns a context under which a Shutdown or Stop that waits
// for a node slot calls onWait every WaitTick (activities heartbeat there,
// so waiting in line never looks like a dead worker).
func WithQueueWait(ctx context.Context, onWait func()) context.Context {
	return context.WithValue(ctx, queueWaitKey{}, onWait)
}

// slots is a counting semaphore that serves its waiters in arrival order
// (a channel semaphore polled with a ticker would send each waiter to the
// back of the line at every tick).
type slots struct {
	mu      sync.Mutex
	free    int
	waiters []chan struct{}
}

func (s *slots) acquire(ctx context.Context, tick time.Duration, onWait func(), node string) (func(), error) {
	s.mu.Lock()
	if s.free > 0 && len(s.waiters) == 0 {
		s.free--
		s.mu.Unlock()
		return s.releaser(), nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ch:
			return s.releaser(), nil
		case <-ctx.Done():
			s.mu.Lock()
			granted := true
			for i, w := range s.waiters {
				if w == ch {
					s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
					granted = false
					break
				}
			}
			s.mu.Unlock()
			if granted { // the slot came with the cancellation: pass it on
				s.releaser()()
			}
			return nil, &Error{Op: "wait for a free slot on node " + node, Cause: ctx.Err().Error()}
		case <-t.C:
			if onWait != nil {
				onWait()
			}
		}
	}
}

// releaser returns the release function of one held slot (idempotent): the
// slot goes to the first waiter, else back to the pool.
func (s *slots) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.waiters) > 0 {
				close(s.waiters[0])
				s.waiters = s.waiters[1:]
				return
			}
			s.free++
		})
	}
}

// NewAll builds one client per server, by name; obs may be nil.
func NewAll(cfgs []Config, obs Observer) (map[string]*Client, error) {
	out := make(map[string]*Client, len(cfgs))
	for _, c := range cfgs {
		cl, err := New(c, obs)
		if err != nil {
			return nil, err
		}
		out[c.Name] = cl
	}
	return out, nil
}

// New builds a client. It makes no request.
func New(cfg Config, obs Observer) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL, "/")
	if !strings.HasSuffix(base, "/api2/json") {
		base += "/api2/json"
	}
	u, _ := url.Parse(base)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("proxmox server %q: %w", cfg.Name, err)
	}
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 16
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	hc := &http.Client{
		Timeout:   timeout,
		Transport: &captureTransport{base: tr, server: cfg.Name, prefix: u.Path, obs: obs},
	}
	api := proxmox.NewClient(base,
		proxmox.WithHTTPClient(hc),
		proxmox.WithAPIToken(cfg.TokenID, cfg.Secret()),
		proxmox.WithUserAgent("proxmox-terminate"),
	)
	limit := cfg.NodeConcurrency
	if limit == 0 {
		limit = DefaultNodeConcurrency
	}
	tick := cfg.WaitTick
	if tick <= 0 {
		tick = DefaultWaitTick
	}
	return &Client{name: cfg.Name, api: api, limit: limit, waitTick: tick,
		state: map[string]*slots{}, destroy: map[string]*slots{}}, nil
}

// Name is the configured server name.
func (c *Client) Name() string { return c.name }

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.Insecure:
		tc.InsecureSkipVerify = true
	case cfg.Fingerprint != "":
		want, err := parseFingerprint(cfg.Fingerprint)
		if err != nil {
			return nil, err
		}
		// Pinning replaces chain verification: self-signed cluster
		// certificates are the norm, and the pin is stronger than a CA.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got != want {
				return fmt.Errorf("certificate fingerprint mismatch: server has %s", formatFingerprint(got))
			}
			return nil
		}
	case cfg.CAFile != "":
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func parseFingerprint(s string) ([32]byte, error) {
	var out [32]byte
	clean := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("fingerprint %q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", s)
	}
	copy(out[:], b)
	return out, nil
}

func formatFingerprint(b [32]byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

func (c *Client) get(ctx context.Context, path string, params map[string]string, v any) error {
	p := path
	if len(params) > 0 {
		p += "?" + encode(params)
	}
	return wrapTransport("GET "+path, c.api.Get(ctx, p, v))
}

func (c *Client) post(ctx context.Context, path string, params map[string]string, v any) error {
	var body any
	if len(params) > 0 {
		body = params // JSON object of strings: booleans go as "1"/"0"
	}
	return wrapTransport("POST "+path, c.api.Post(ctx, path, body, v))
}

func (c *Client) del(ctx context.Context, path string, params map[string]string, v any) error {
	p := path
	if len(params) > 0 {
		p += "?" + encode(params)
	}
	return wrapTransport("DELETE "+path, c.api.Delete(ctx, p, v))
}

func encode(params map[string]string) string {
	vals := url.Values{}
	for k, v := range params {
		vals.Set(k, v)
	}
	return vals.Encode()
}
