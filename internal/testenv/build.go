package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
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
