package pvesim

import (
	"container/heap"
	"time"
)

// The simulator is a small discrete-event simulation evaluated lazily: state
// changes that happen "in the background" on a real node (a guest finishing
// its shutdown, a worker timing out on a lock) are events with a timestamp.
// Every API request and every state accessor first runs advance(now), which
// applies all events due by then in timestamp order. Nothing runs between
// requests, so there are no goroutines or timers to leak and results do not
// depend on scheduling.

type event struct {
	at        time.Time
	seq       int64
	fn        func(now time.Time)
	cancelled bool
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*q = old[:n-1]
	return e
}

// schedule registers fn to run at the given time (mutex held).
func (s *Sim) schedule(at time.Time, fn func(now time.Time)) *event {
	s.eventSeq++
	e := &event{at: at, seq: s.eventSeq, fn: fn}
	heap.Push(&s.events, e)
	return e
}

// advance applies every event due at or before now (mutex held).
func (s *Sim) advance(now time.Time) {
	for s.events.Len() > 0 {
		e := s.events[0]
		if e.at.After(now) {
			return
		}
		heap.Pop(&s.events)
		if !e.cancelled {
			e.fn(e.at)
		}
	}
}

// vmLock models /var/lock/qemu-server/lock-<vmid>.conf (flock taken by
// PVE::AbstractConfig::lock_config inside workers).
type vmLock struct {
	holder  *task
	waiters []*task
}

// lockConfig takes the VM's config lock for t as the task's worker does,
// then runs onLock; with an injected lock timeout the task fails with
// Proxmox's message once the lock wait is over.
func (s *Sim) lockConfig(t *task, fx faultEffects, now time.Time, onLock func(now time.Time)) {
	if fx.lockTimeout {
		t.addTimer(s.schedule(now.Add(s.lockWait), func(at time.Time) { s.failTask(t, at, lockTimeoutMsg(t.vmid)) }))
		return
	}
	s.acquireLock(t, now, onLock)
}

// acquireLock takes the VM config lock for t, or queues t; a queued task
// fails after LockWait with qemu-server's lock timeout message. onLock runs
// (possibly later) once the lock is held.
func (s *Sim) acquireLock(t *task, now time.Time, onLock func(now time.Time)) {
	l := s.locks[t.vmid]
	if l == nil {
		l = &vmLock{}
		s.locks[t.vmid] = l
	}
	t.onLock = onLock
	if l.holder == nil {
		l.holder = t
		t.holdsLock = true
		onLock(now)
		return
	}
	l.waiters = append(l.waiters, t)
	t.lockTimeout = s.schedule(now.Add(s.lockWait), func(at time.Time) {
		s.dropWaiter(t)
		s.failTask(t, at, lockTimeoutMsg(t.vmid))
	})
}

func lockTimeoutMsg(vmid int) string {
	return "can't lock file '/var/lock/qemu-server/lock-" + itoa(vmid) + ".conf' - got timeout"
}

func (s *Sim) dropWaiter(t *task) {
	l := s.locks[t.vmid]
	if l == nil {
		return
	}
	for i, w := range l.waiters {
		if w == t {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			return
		}
	}
}

// releaseLock hands the lock to the oldest waiter.
func (s *Sim) releaseLock(t *task, now time.Time) {
	if !t.holdsLock {
		return
	}
	t.holdsLock = false
	l := s.locks[t.vmid]
	if l == nil || l.holder != t {
		return
	}
	l.holder = nil
	if len(l.waiters) == 0 {
		return
	}
	next := l.waiters[0]
	l.waiters = l.waiters[1:]
	if next.lockTimeout != nil {
		next.lockTimeout.cancelled = true
		next.lockTimeout = nil
	}
	l.holder = next
	next.holdsLock = true
	s.schedule(now, func(at time.Time) {
		if next.done {
			s.releaseLock(next, at)
			return
		}
		next.onLock(at)
	})
}
