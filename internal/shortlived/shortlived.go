// Package shortlived tunes the runtime, from package initialization on,
// for a command that lives for one request (the starter, run once per
// click of the billing panel):
//
//   - No collection by percentage. Such a process allocates a few MB in
//     all, most of it while packages initialize; a collection then costs
//     more CPU (its workers, the pages it touches) than the process gains
//     from the memory it frees. A memory limit keeps a run that allocates
//     more than expected bounded: the collector runs only near it.
//   - One P. The process waits on the network nearly all its life, one
//     goroutine at a time doing any work; with more Ps the scheduler wakes
//     idle threads to look for work at every network event, which costs
//     CPU and buys no latency.
//
// GOGC or GOMEMLIMIT, and GOMAXPROCS, in the environment win.
//
// Package initialization runs dependencies first, then the packages in
// import-path order: this one depends only on the runtime's own packages,
// so it runs before the heavy initializers (the Temporal API's
// descriptors, the SQLite driver) and so before the first collection of a
// fresh process (at 4 MB).
//
// A command whose run outlives a request (one that follows a run, or
// walks a whole cluster) calls Restore.
package shortlived

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
)

// MemoryLimit is the heap size at which the collector runs while its
// percentage is off.
const MemoryLimit = 64 << 20

var gcChanged, procsChanged bool

func init() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(MemoryLimit)
		gcChanged = true
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
		procsChanged = true
	}
}

// Restore puts back the runtime's defaults (GOGC=100, no memory limit, the
// default GOMAXPROCS) where this package changed them.
func Restore() {
	if gcChanged {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		gcChanged = false
	}
	if procsChanged {
		runtime.SetDefaultGOMAXPROCS()
		procsChanged = false
	}
}
