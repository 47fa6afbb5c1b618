package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// previousBuild is the released build the upgrade starts from: main before
// the WHMCS addon and the cluster tests. Its workflow code is what runs
// that wait in error_terminate today were started with.
const previousBuild = "7ecc5abc494e2e25611e81c5907240b43cb1ef67"

// buildAt builds the worker of the repository at commit into dir, from
// `git archive` (the checkout is not touched).
func buildAt(t *testing.T, commit, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	require.NoError(t, os.MkdirAll(src, 0o755))
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", testenv.RepoRoot(), commit, src))
	out, err := archive.CombinedOutput()
	require.NoError(t, err, "the upgrade test builds the previous release from git history (a full clone): %s", out)
	require.NoError(t, testenv.Build(context.Background(), src, dir, "./worker"))
	return filepath.Join(dir, "worker")
}

// An upgrade while runs wait for an admin: runs started on the previous
// build wait in error_terminate; its workers stop and this build's start
// (as a rolling restart does); the admin's reset reaches the new workers,
// which replay the old build's history and finish the runs.
func TestUpgradeWhileRunsWait(t *testing.T) {
	e := stack.NewEnv(t, stack.EnvOptions{NoPDNS: true})
	st := e.Start(stack.Options{NoWorker: true})
	w := world{t: t, env: e, st: st}
	dir := t.TempDir()
	oldBin := buildAt(t, previousBuild, filepath.Join(dir, "old"))
	newBin := testenv.BuildBinary(t, "worker", filepath.Join(dir, "new"))

	worker := func(bin, name string) *testenv.Proc {
		p := &testenv.Proc{Name: name, Path: bin, Args: []string{"--config", st.ConfigPath, "--http-addr", ""},
			Log: filepath.Join(dir, name+".log"), Group: true}
		require.NoError(t, p.Start())
		t.Cleanup(p.Kill)
		return p
	}
	old1, old2 := worker(oldBin, "old-1"), worker(oldBin, "old-2")

	var vms []stack.VM
	for range 2 {
		v := e.SeedVM(300*time.Millisecond, func(s *pvesim.VMSpec) { s.Protection = true })
		code, _, errb := w.run("terminate", "--service-id", strconv.Itoa(v.ID))
		require.Equal(t, 0, code, errb)
		vms = append(vms, v)
	}
	for _, v := range vms {
		require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusErrorTerminate }, 90*time.Second, 200*time.Millisecond)
	}
	oldPids := []int{old1.Pid(), old2.Pid()}

	// The rolling restart: each old worker stops (SIGTERM, as systemd does)
	// and a new one starts in its place.
	old1.Stop(syscall.SIGTERM, 20*time.Second)
	new1 := worker(newBin, "new-1")
	old2.Stop(syscall.SIGTERM, 20*time.Second)
	new2 := worker(newBin, "new-2")
	newPids := []int{new1.Pid(), new2.Pid()}

	for _, v := range vms {
		// The row says error_terminate once the failure is recorded; the
		// run waits for an admin a workflow task later, which a new worker
		// may be the one to complete.
		require.Eventually(t, func() bool {
			code, out, _ := w.run("status", "--service-id", strconv.Itoa(v.ID), "--json")
			var status struct {
				Phase string `json:"phase"`
			}
			return code == 0 && json.Unmarshal([]byte(out), &status) == nil && status.Phase == pipeline.PhaseWaiting
		}, 30*time.Second, 200*time.Millisecond)
		require.NoError(t, st.Sim.UpdateVM(v.VMID, func(s *pvesim.VMSpec) { s.Protection = false }))
		code, out, errb := w.run("reset", "--service-id", strconv.Itoa(v.ID), "--to", "terminate")
		require.Equal(t, 0, code, "%s%s", out, errb)
	}
	for _, v := range vms {
		require.Eventually(t, func() bool { return w.status(v.ID) == dbmodel.StatusRemove }, 90*time.Second, 200*time.Millisecond)
		require.False(t, st.Sim.VMExists(v.VMID))
		require.Equal(t, []string{dbmodel.FailurePref + fmt.Sprintf("can't remove VM %d - protection mode enabled", v.VMID), dbmodel.SuccessText},
			e.Activity(v.UserID), "one entry per attempt across the upgrade")

		// The history shows both builds: workflow tasks completed by an old
		// worker, then by a new one.
		by := map[string]bool{}
		it := e.Dev.Client().GetWorkflowHistory(context.Background(), pipeline.WorkflowID(v.ID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil {
				by[a.GetIdentity()] = true
			}
		}
		require.True(t, byPid(by, oldPids), "tasks of the previous build: %v", by)
		require.True(t, byPid(by, newPids), "tasks of this build: %v", by)
	}
}

// byPid reports whether a worker identity (pid@host@...) names one of pids.
func byPid(identities map[string]bool, pids []int) bool {
	for id := range identities {
		for _, p := range pids {
			if strings.HasPrefix(id, strconv.Itoa(p)+"@") {
				return true
			}
		}
	}
	return false
}
