// Package pdnstest runs a real PowerDNS Authoritative server (Debian's
// pdns-server with pdns-backend-sqlite3) as a subprocess for tests: free
// loopback ports, a temporary sqlite database made from the Debian schema,
// the HTTP API enabled with a random key.
//
//	srv := pdnstest.Start(t)           // fails the test if pdns is not installed
//	srv.CreateZone("example.com")
//	srv.AddRecord("example.com", "vm.example.com", "A", "192.0.2.10", 300)
//	providers, _ := dns.Build([]dns.ProviderConfig{srv.Config("pdns")}, nil)
//
// Only loopback addresses are used; the security-status poll (an outbound
// DNS lookup) is disabled.
package pdnstest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // creates the gsqlite3 database from the Debian schema (the same pure-Go SQLite as dbmodel: one driver registration)

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/dnstest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// Paths of the Debian packages pdns-server and pdns-backend-sqlite3.
const (
	Binary = "/usr/sbin/pdns_server"
	Schema = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"
	// BackendGlob finds libgsqlite3backend.so under the multiarch directory.
	BackendGlob = "/usr/lib/*/pdns/libgsqlite3backend.so"
)

// binaryPath is Binary, replaceable by this package's tests.
var binaryPath = Binary

// InstallHint is what to run when Available is false.
const InstallHint = "apt-get install -y pdns-server pdns-backend-sqlite3"

// Available reports whether pdns_server, the gsqlite3 backend and its
// schema are installed.
func Available() bool { return missing() == "" }

func missing() string {
	if _, err := os.Stat(binaryPath); err != nil {
		return binaryPath
	}
	if _, err := os.Stat(Schema); err != nil {
		return Schema
	}
	if m, _ := filepath.Glob(BackendGlob); len(m) == 0 {
		return BackendGlob
	}
	return ""
}

// Server is one running pdns_server.
type Server struct {
	URL      string // http://127.0.0.1:PORT, the webserver/API base
	APIKey   string
	ServerID string // always "localhost"
	DNSAddr  string // 127.0.0.1:PORT answering DNS over UDP and TCP
	Dir      string // holds the sqlite database

	Client
	sockDir string
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *testenv.Buffer
	stop    sync.Once
	stopErr error
}

// Start starts a server for t and stops it in t.Cleanup. When pdns is not
// installed it fails the test (it never skips) with the install command.
func Start(t testing.TB) *Server {
	t.Helper()
	if m := missing(); m != "" {
		t.Fatalf("pdnstest: %s not found: the real PowerDNS server is required; install it with `%s`", m, InstallHint)
	}
	s, err := StartServer(t.TempDir())
	if err != nil {
		t.Fatalf("pdnstest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pdnstest: stop: %v", err)
		}
	})
	return s
}

// Options tune a server StartServerWith starts.
type Options struct {
	Args  []string // more pdns_server arguments, e.g. --gsqlite3-pragma-synchronous=0
	Group bool     // its own process group: a terminal's Ctrl-C does not reach it
}

// StartServer starts pdns_server with its database in dir and waits until
// the API answers. The caller must call Stop.
func StartServer(dir string) (*Server, error) { return StartServerWith(dir, Options{}) }

// StartServerWith is StartServer with options.
func StartServerWith(dir string, o Options) (*Server, error) {
	if m := missing(); m != "" {
		return nil, fmt.Errorf("%s not found; install with `%s`", m, InstallHint)
	}
	dbPath := filepath.Join(dir, "pdns.sqlite3")
	if err := createDB(dbPath); err != nil {
		return nil, err
	}
	// An empty pdns.conf keeps the server from reading the system one.
	if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), nil, 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a freed port can be taken before pdns binds it
		s, err := launch(dir, dbPath, o)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func createDB(path string) error {
	schema, err := os.ReadFile(Schema)
	if err != nil {
		return err
	}
	_ = os.Remove(path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(string(schema)); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	return nil
}

func launch(dir, dbPath string, o Options) (*Server, error) {
	webPort, err := freePort(false)
	if err != nil {
		return nil, err
	}
	dnsPort, err := freePort(true)
	if err != nil {
		return nil, err
	}
	// The control socket path must stay short (sun_path is 108 bytes).
	sockDir, err := os.MkdirTemp("", "pdns")
	if err != nil {
		return nil, err
	}
	key := dnstest.RandomHex(16)
	s := &Server{
		URL:      "http://127.0.0.1:" + strconv.Itoa(webPort),
		APIKey:   key,
		ServerID: "localhost",
		DNSAddr:  "127.0.0.1:" + strconv.Itoa(dnsPort),
		Dir:      dir,
		sockDir:  sockDir,
		exited:   make(chan struct{}),
		logs:     &testenv.Buffer{Limit: 1 << 20}, // the start-up output stays readable, not unbounded
	}
	args := []string{
		"--config-dir=" + dir,
		"--socket-dir=" + sockDir,
		"--daemon=no",
		"--guardian=no",
		"--disable-syslog",
		"--write-pid=no",
		"--launch=gsqlite3",
		"--gsqlite3-database=" + dbPath,
		"--local-address=127.0.0.1",
		"--local-port=" + strconv.Itoa(dnsPort),
		"--api=yes",
		"--api-key=" + key,
		"--webserver=yes",
		"--webserver-address=127.0.0.1",
		"--webserver-port=" + strconv.Itoa(webPort),
		"--webserver-allow-from=127.0.0.0/8",
		"--webserver-loglevel=none",
		"--security-poll-suffix=",
		"--cache-ttl=0",
		"--query-cache-ttl=0",
		"--negquery-cache-ttl=0",
	}
	args = append(args, o.Args...)
	s.cmd = exec.Command(binaryPath, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	setProcAttr(s.cmd, o.Group)
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("starting %s: %w", binaryPath, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	s.Client, err = NewClient(s.Config("pdnstest"))
	if err != nil {
		_ = s.Stop()
		return nil, err
	}
	if err := s.waitReady(20 * time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("pdns_server exited during start-up:\n%s", s.Log())
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/servers/"+s.ServerID, nil)
		req.Header.Set("X-API-Key", s.APIKey)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("pdns_server API not ready within %s:\n%s", limit, s.Log())
}

// Config returns a provider config for this server, labelled name.
func (s *Server) Config(name string) core.ProviderConfig {
	return core.ProviderConfig{Kind: core.KindPowerDNS, Name: name, URL: s.URL, APIKey: s.APIKey, ServerID: s.ServerID}
}

// Pid is pdns_server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Log returns what the server has printed so far.
func (s *Server) Log() string { return s.logs.String() }

// Stop terminates the server (SIGTERM, then SIGKILL after 5s) and removes
// its socket directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		defer os.RemoveAll(s.sockDir)
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	return s.stopErr
}

// Client seeds and reads zones through a PowerDNS API, the real server's
// (Server) or pdnsfake's: both embed one. Each call has 10 seconds.
type Client struct {
	api *powerdns.Provider
}

// NewClient is a Client of the API cfg configures.
func NewClient(cfg core.ProviderConfig) (Client, error) {
	api, err := powerdns.New(cfg, nil)
	return Client{api: api}, err
}

func (c Client) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// zoneID finds the API id of a zone by name.
func (c Client) zoneID(ctx context.Context, zone string) (string, error) {
	zs, err := c.api.ListZones(ctx)
	if err != nil {
		return "", err
	}
	for _, z := range zs {
		if core.Canon(z.Name) == core.Canon(zone) {
			return z.ID, nil
		}
	}
	return "", fmt.Errorf("zone %s not found", zone)
}

// CreateZone creates a Native zone (SOA and an NS record are added by the
// server) with optional initial rrsets; their ChangeType defaults to REPLACE.
func (c Client) CreateZone(name string, rrsets ...powerdns.RRset) error {
	ctx, cancel := c.ctx()
	defer cancel()
	return CreateZoneVia(ctx, c.api, name, rrsets...)
}

// CreateZoneVia creates a Native zone with optional rrsets through any
// PowerDNS API (the real server or pdnsfake); ChangeType defaults to REPLACE
// and names may omit the trailing dot.
func CreateZoneVia(ctx context.Context, api *powerdns.Provider, name string, rrsets ...powerdns.RRset) error {
	for i := range rrsets {
		if rrsets[i].ChangeType == "" {
			rrsets[i].ChangeType = "REPLACE"
		}
		rrsets[i].Name = core.Absolute(rrsets[i].Name)
	}
	_, err := api.CreateZone(ctx, name, []string{"ns1.pdnstest.invalid."}, rrsets)
	return err
}

// AddRecord adds one record to the rrset (name, type), creating it when
// absent; names may omit the trailing dot.
func (c Client) AddRecord(zone, name, rtype, content string, ttl int) error {
	ctx, cancel := c.ctx()
	defer cancel()
	id, err := c.zoneID(ctx, zone)
	if err != nil {
		return err
	}
	zi, err := c.api.GetZone(ctx, id)
	if err != nil {
		return err
	}
	abs := core.Absolute(name)
	rtype = strings.ToUpper(rtype)
	rs := powerdns.RRset{Name: abs, Type: rtype, TTL: ttl, ChangeType: "REPLACE"}
	for _, have := range zi.RRsets {
		if core.Canon(have.Name) == core.Canon(abs) && strings.EqualFold(have.Type, rtype) {
			rs.Records = append(rs.Records, have.Records...)
		}
	}
	rs.Records = append(rs.Records, powerdns.Record{Content: content})
	return c.api.Patch(ctx, id, []powerdns.RRset{rs})
}

// Records returns the zone's rrsets as the API reports them.
func (c Client) Records(zone string) ([]powerdns.RRset, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	id, err := c.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	zi, err := c.api.GetZone(ctx, id)
	if err != nil {
		return nil, err
	}
	return zi.RRsets, nil
}

// freePort finds a loopback port free for TCP (and UDP when udp is set).
func freePort(udp bool) (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if udp {
			pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				l.Close()
				continue
			}
			pc.Close()
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port")
}

// Zones is what the real server (Server) and the in-process fake
// (pdnsfake) offer tests for seeding and reading zones.
type Zones interface {
	CreateZone(name string, rrsets ...powerdns.RRset) error
	AddRecord(zone, name, rtype, content string, ttl int) error
	Records(zone string) ([]powerdns.RRset, error)
}

// EnsureZone creates the zone with rrsets or, when it exists, adds their
// records to it; a record that is already there is no error.
func EnsureZone(z Zones, name string, rrsets ...powerdns.RRset) error {
	if err := z.CreateZone(name, rrsets...); err == nil {
		return nil
	}
	for _, rr := range rrsets {
		for _, r := range rr.Records {
			err := z.AddRecord(name, rr.Name, rr.Type, r.Content, rr.TTL)
			if err != nil && !strings.Contains(err.Error(), "Duplicate record") {
				return err
			}
		}
	}
	return nil
}

// RecordLines lists a zone's records as "name type content" lines.
func RecordLines(z Zones, zone string) (string, error) {
	rr, err := z.Records(zone)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range rr {
		for _, rec := range r.Records {
			fmt.Fprintf(&b, "%s %s %s\n", r.Name, r.Type, rec.Content)
		}
	}
	return b.String(), nil
}
