package core

// Snapshot is what one Cleanup or Plan has read of one provider's zones.
// Cleanup makes one per provider per run and passes it to every Records and
// Delete call of that run. A provider that must read a whole zone to answer
// Records, or to build the change a Delete sends (PowerDNS, HestiaCP),
// keeps that read here and answers every later call for the same zone from
// it, so a run reads each zone once; after each of its own writes that
// succeeds it updates its copy, so the copy stays what the server holds.
//
// A Snapshot lives for one run only (zones change between runs) and, like
// the provider in a run, is used from one goroutine at a time. The nil
// *Snapshot is valid and keeps nothing: every call reads afresh.
type Snapshot struct {
	zones map[string]any // by Zone.ID
}

// NewSnapshot returns an empty Snapshot.
func NewSnapshot() *Snapshot { return &Snapshot{zones: map[string]any{}} }

// SnapshotZone returns the copy of zone id that s holds, or calls read,
// keeps what it returns and returns that. A failed read is not kept: the
// next call reads again. With a nil s it always calls read. Providers keep
// a pointer or map, so that they can update the copy in place.
func SnapshotZone[T any](s *Snapshot, id string, read func() (T, error)) (T, error) {
	if v, ok := SnapshotCopy[T](s, id); ok {
		return v, nil
	}
	v, err := read()
	if err == nil && s != nil {
		s.zones[id] = v
	}
	return v, err
}

// SnapshotCopy returns the copy of zone id that s holds, if it holds one
// (of type T); it never reads.
func SnapshotCopy[T any](s *Snapshot, id string) (T, bool) {
	if s != nil {
		if v, ok := s.zones[id].(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// Forget drops the copy of zone id, so that the next use reads the zone
// again: for a write whose outcome is unknown (no answer), after which the
// copy may no longer be what the server holds.
func (s *Snapshot) Forget(id string) {
	if s != nil {
		delete(s.zones, id)
	}
}
