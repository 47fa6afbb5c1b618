package dnstest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Double is the HTTP side of a provider double: an httptest server on a
// loopback port. Embed it and call Serve from the double's constructor.
type Double struct {
	srv *httptest.Server
}

// Serve starts serving h and returns the server's base URL.
func (d *Double) Serve(h http.HandlerFunc) string {
	d.srv = httptest.NewServer(h)
	return d.srv.URL
}

// Close stops the double.
func (d *Double) Close() { d.srv.Close() }

// Start calls newServer and closes the double it returns in t.Cleanup.
func Start[S interface{ Close() }](t testing.TB, newServer func() S) S {
	t.Helper()
	s := newServer()
	t.Cleanup(s.Close)
	return s
}

// RandomHex is n random bytes, hex-encoded: API keys and record ids.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomString is n random characters from alphabet: access keys, tokens.
func RandomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
