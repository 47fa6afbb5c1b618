package pdnstest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f) // Fatalf must not return
}

func TestStartFailsWithInstallHintWhenMissing(t *testing.T) {
	old := binaryPath
	binaryPath = "/nonexistent/pdns_server"
	defer func() { binaryPath = old }()
	if Available() {
		t.Fatal("Available with a missing binary")
	}
	tb := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != tb {
				t.Fatalf("Start did not fail the test (recovered %v)", r)
			}
		}()
		Start(tb)
	}()
	if !strings.Contains(tb.msg, "apt-get install -y pdns-server pdns-backend-sqlite3") || !strings.Contains(tb.msg, "/nonexistent/pdns_server") {
		t.Errorf("message %q", tb.msg)
	}
}

func TestServerLifecycle(t *testing.T) {
	s, err := StartServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/servers/localhost", nil)
	req.Header.Set("X-API-Key", s.APIKey)
	if resp, _ := testenv.Do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("API status %d", resp.StatusCode)
	}
	if err := s.CreateZone("life.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRecord("life.test", "a.life.test", "A", "192.0.2.1", 60); err != nil {
		t.Fatal(err)
	}
	rrsets, err := s.Records("life.test")
	if err != nil || len(rrsets) != 3 { // SOA, NS, A
		t.Fatalf("records %v %v", rrsets, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	if s.cmd.ProcessState == nil {
		t.Error("pdns_server was not waited for")
	}
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("API still answering after Stop")
	}
}
