package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Build builds the commands pkgs (paths like "./worker") of the module in
// src (RepoRoot() when empty) into dir, one binary each named after its
// folder, as an operator would build them.
func Build(ctx context.Context, src, dir string, pkgs ...string) error {
	if src == "" {
		src = RepoRoot()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %v\n%s", pkgs, err, b)
	}
	return nil
}

// BuildBinary builds a command of this module into dir and returns its path.
func BuildBinary(t testing.TB, pkg, dir string) string {
	t.Helper()
	if err := Build(context.Background(), "", dir, "./"+pkg); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, filepath.Base(pkg))
}

var (
	binMu   sync.Mutex
	binDir  string
	binErrs = map[string]error{}
)

// Binary is BuildBinary once per test binary: the command pkg (like
// "starter" or "cmd/demo") is built on first use into a directory the
// test binary shares, which Main removes; the binary is named after the
// folder, as with BuildBinary.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	err, built := binErrs[pkg]
	if !built {
		if binDir == "" {
			binDir, err = os.MkdirTemp("", "pt-bin-")
		}
		if err == nil {
			err = Build(context.Background(), "", binDir, "./"+pkg)
		}
		binErrs[pkg] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(binDir, filepath.Base(pkg))
}

// removeBinaries removes what Binary built.
func removeBinaries() {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
