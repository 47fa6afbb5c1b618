package pvesim

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestHTTPSWithPinnedFingerprint(t *testing.T) {
	s := New(fastOpts())
	if err := s.AddVM(VMSpec{Node: "pve1", VMID: 100}); err != nil {
		t.Fatal(err)
	}
	base, err := s.Start("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(base, "https://127.0.0.1:") || !strings.HasSuffix(base, "/api2/json") {
		t.Fatalf("base %s", base)
	}
	fp := s.CertFingerprintSHA256()
	if len(fp) != 95 || strings.ToUpper(fp) != fp || strings.Count(fp, ":") != 31 {
		t.Fatalf("fingerprint %q", fp)
	}
	// A client that pins the fingerprint, as PVE tooling does.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // verified by fingerprint below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if FingerprintSHA256(raw[0]) != fp {
				return errors.New("fingerprint mismatch")
			}
			return nil
		},
	}}}
	req, _ := http.NewRequest("DELETE", base+"/nodes/pve1/qemu/100", nil)
	req.Header.Set("Authorization", testAuth)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Status != "500 VM 100 is running - destroy failed" || res.ProtoMajor != 1 {
		t.Fatalf("over TLS: %s %s %s", res.Proto, res.Status, body)
	}
	// Trusting the certificate itself also works (SAN 127.0.0.1).
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	req, _ = http.NewRequest("GET", base+"/version", nil)
	req.Header.Set("Authorization", testAuth)
	res, err = c2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 1 {
		t.Fatalf("%s %s (HTTP/2 must be off)", res.Proto, res.Status)
	}
	// Raw status line over TLS.
	u, _ := url.Parse(base)
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s/nodes/pve1/qemu/101/status/current HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", u.Path, u.Host, testAuth)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line != "HTTP/1.1 500 Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist\r\n" {
		t.Fatalf("status line %q", line)
	}
	if _, err := s.Start("127.0.0.1:0", false); err == nil {
		t.Fatal("second Start accepted")
	}
}
