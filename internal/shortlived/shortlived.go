// Package shortlived turns the garbage collector's percentage off, from
// package initialization on, in a command that lives for one request (the
// starter, run once per click of the billing panel). Such a process
// allocates a few MB in all, most of it while packages initialize; a
// collection then costs more CPU (its workers, the pages it touches) than
// the process gains from the memory it frees. A memory limit keeps a run
// that allocates more than expected bounded: the collector runs only near
// it. GOGC or GOMEMLIMIT in the environment win.
//
// Package initialization runs dependencies first, then the packages in
// import-path order: this one has no dependency outside the runtime's own
// packages, so it runs before the heavy initializers (the Temporal API's
// descriptors, gorm, the SQLite driver) and so before the first collection
// of a fresh process (at 4 MB).
//
// A command whose run outlives a request (one that follows a run, or
// walks a whole cluster) calls Restore.
package shortlived

import (
	"math"
	"os"
	"runtime/debug"
)

// MemoryLimit is the heap size at which the collector runs while its
// percentage is off.
const MemoryLimit = 64 << 20

var changed bool

func init() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(MemoryLimit)
	changed = true
}

// Restore puts the collector back to the runtime's defaults (GOGC=100, no
// memory limit), unless the environment had set them.
func Restore() {
	if !changed {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	changed = false
}
