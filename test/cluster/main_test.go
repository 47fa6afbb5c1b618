// Package cluster tests the pipeline on the real Temporal server
// (go.temporal.io/server v1.29.1, PostgreSQL persistence and SQL
// visibility), set up as production sets it up (internal/cluster). The
// test binary starts its own server unless TEST_TEMPORAL_ADDRESS names one
// (make test-cluster points it at `make cluster`'s).
package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	icluster "github.com/proxmox-terminate/proxmox-terminate/internal/cluster"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// server is the binary's own server; nil when TEST_TEMPORAL_ADDRESS named one.
var server *icluster.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pt-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv(testenv.ExternalTemporalEnv) == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		server, err = icluster.New(ctx, icluster.Options{Dir: dir, Database: fmt.Sprintf("pt_cluster_test_%d", os.Getpid())})
		if err == nil {
			err = server.Start(ctx)
		}
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "the real Temporal server:", err)
			os.Exit(1)
		}
		os.Setenv(testenv.ExternalTemporalEnv, server.Addr)
	}
	testenv.Main(m, func() {
		if server != nil {
			server.Stop(15 * time.Second)
			_ = server.Drop(context.Background())
		}
		os.RemoveAll(dir)
	})
}
