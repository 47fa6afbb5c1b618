package pvesim

import "strconv"

type faultState struct {
	f         Fault
	remaining int // -1: unlimited
}

// reqCtx is what faults are matched against.
type reqCtx struct {
	method string
	route  string // template, "" when unmatched
	node   string
	vmid   int
}

func (s *Sim) setFaultLocked(f Fault) {
	rem := f.Count
	if rem <= 0 {
		rem = -1
	}
	for _, fs := range s.faults {
		g := fs.f
		if g.Node == f.Node && g.VMID == f.VMID && g.Route == f.Route && g.Method == f.Method && g.Kind == f.Kind {
			fs.f, fs.remaining = f, rem
			return
		}
	}
	s.faults = append(s.faults, &faultState{f: f, remaining: rem})
}

func (fs *faultState) matches(kind FaultKind, rc reqCtx) bool {
	f := fs.f
	if f.Kind != kind || fs.remaining == 0 {
		return false
	}
	if f.Method != "" && f.Method != rc.method {
		return false
	}
	if f.Route != "" && f.Route != rc.route {
		return false
	}
	if f.Node != "" && f.Node != rc.node {
		return false
	}
	if f.VMID != 0 && f.VMID != rc.vmid {
		return false
	}
	return true
}

// takeFault returns the first fault of that kind matching the request and
// consumes one of its uses.
func (s *Sim) takeFault(kind FaultKind, rc reqCtx) *Fault {
	for i, fs := range s.faults {
		if !fs.matches(kind, rc) {
			continue
		}
		f := fs.f
		if fs.remaining > 0 {
			fs.remaining--
			if fs.remaining == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

// faultEffects carries faults that act inside worker tasks.
type faultEffects struct {
	lockTimeout bool
	taskFail    string
}

func (s *Sim) taskFaults(rc reqCtx, destroyLike bool) faultEffects {
	var fx faultEffects
	if f := s.takeFault(FaultLockTimeout, rc); f != nil {
		fx.lockTimeout = true
	}
	if destroyLike {
		if f := s.takeFault(FaultDeleteTaskFail, rc); f != nil {
			fx.taskFail = orDefault(f.Message, "simulated failure (delete_task_fail)")
		}
	}
	if fx.taskFail == "" {
		if f := s.takeFault(FaultTaskFail, rc); f != nil {
			fx.taskFail = orDefault(f.Message, "simulated failure (task_fail)")
		}
	}
	return fx
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func vmidOf(params map[string]string) int {
	n, _ := strconv.Atoi(params["vmid"])
	return n
}
