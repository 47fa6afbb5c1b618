package dbmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// A MySQL server that accepts and never answers fails the open when its
// context ends, with the cannot-connect error and without the password.
func TestOpenContextEndsWithTheDeadlineOnASilentServer(t *testing.T) {
	cfg := dbmodel.Config{Driver: "mysql", DSN: "whmcs:pw-silent-123@tcp(" + testenv.HangingServer(t) + ")/whmcs"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		s, err := dbmodel.OpenContext(ctx, cfg)
		if s != nil {
			s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		require.Error(t, err)
		require.Contains(t, err.Error(), "database: cannot connect (mysql)")
		require.NotContains(t, err.Error(), "pw-silent-123")
	case <-time.After(20 * time.Second):
		t.Fatal("OpenContext did not return after its context ended")
	}
}
