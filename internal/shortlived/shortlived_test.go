package shortlived

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

// This test binary imports the package, so its init has run: without
// GOGC and GOMEMLIMIT the collector's percentage is off with the memory
// limit, without GOMAXPROCS there is one P; Restore gives the defaults
// back (the default GOMAXPROCS depends on the machine and its cgroup). What the environment sets, the package leaves alone.
func TestInitAndRestore(t *testing.T) {
	gcFromEnv := os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != ""
	procsFromEnv := os.Getenv("GOMAXPROCS") != ""
	if gcChanged == gcFromEnv || procsChanged == procsFromEnv {
		t.Fatalf("init changed GC %t, GOMAXPROCS %t; the environment sets GC %t, GOMAXPROCS %t", gcChanged, procsChanged, gcFromEnv, procsFromEnv)
	}
	if !gcFromEnv {
		if got := debug.SetGCPercent(-1); got != -1 {
			t.Errorf("GC percent after init = %d, want -1", got)
		}
		if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
			t.Errorf("memory limit after init = %d, want %d", got, MemoryLimit)
		}
	}
	if !procsFromEnv {
		if got := runtime.GOMAXPROCS(0); got != 1 {
			t.Errorf("GOMAXPROCS after init = %d, want 1", got)
		}
	}
	Restore()
	if !gcFromEnv {
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("GC percent after Restore = %d, want 100", got)
		}
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Errorf("memory limit after Restore = %d, want none", got)
		}
	}
	if gcChanged || procsChanged {
		t.Error("Restore left the package's changes marked")
	}
}
