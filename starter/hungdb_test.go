package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// A database that accepts the connection and never answers: the click ends
// with its --timeout, one error line and exit 1, instead of hanging until
// WHMCS kills it.
func TestClickOnADatabaseThatNeverAnswersEndsWithItsTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`temporal: {address: "127.0.0.1:1"}
database: {driver: mysql, dsn: "whmcs:pw-hung-123@tcp(`+testenv.HangingServer(t)+`)/whmcs"}
proxmox:
  - {name: pve, url: "https://127.0.0.1:1", token_id: "t@pve!w", token_secret: "s-hung-456", insecure: true}
`), 0o600))

	var out, errOut bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"terminate", "--service-id", "5", "--config", path, "--timeout", "1s"}, &out, &errOut)
	}()
	select {
	case c := <-code:
		require.Equal(t, exitError, c)
	case <-time.After(30 * time.Second):
		t.Fatal("the starter did not end after its --timeout")
	}
	require.Empty(t, out.String())
	require.Equal(t, 1, strings.Count(errOut.String(), "\n"), errOut.String())
	require.Contains(t, errOut.String(), "database: cannot connect (mysql)")
	require.NotContains(t, errOut.String(), "pw-hung-123")
}
