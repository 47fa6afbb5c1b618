package core

import (
	"errors"
	"testing"
)

func TestSnapshotKeepsSuccessfulReadsOnly(t *testing.T) {
	reads := 0
	read := func(v map[string]int, err error) func() (map[string]int, error) {
		return func() (map[string]int, error) { reads++; return v, err }
	}
	s := NewSnapshot()
	if _, err := SnapshotZone(s, "z", read(nil, errors.New("down"))); err == nil {
		t.Fatal("want the read's error")
	}
	if _, ok := SnapshotCopy[map[string]int](s, "z"); ok {
		t.Fatal("a failed read was kept")
	}
	first, err := SnapshotZone(s, "z", read(map[string]int{"a": 1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	first["b"] = 2 // a provider updates its copy in place
	again, _ := SnapshotZone(s, "z", read(map[string]int{"other": 1}, nil))
	if reads != 2 || again["b"] != 2 {
		t.Fatalf("reads %d, copy %v: want 2 reads and the updated copy", reads, again)
	}
	if _, err := SnapshotZone(s, "y", read(map[string]int{}, nil)); err != nil || reads != 3 {
		t.Fatalf("another zone is read on its own: reads %d, %v", reads, err)
	}
	s.Forget("z")
	if _, ok := SnapshotCopy[map[string]int](s, "z"); ok {
		t.Fatal("Forget kept the copy")
	}
	if _, ok := SnapshotCopy[map[string]int](s, "y"); !ok {
		t.Fatal("Forget dropped another zone")
	}
}

func TestNilSnapshotAlwaysReads(t *testing.T) {
	var s *Snapshot
	reads := 0
	for i := 0; i < 2; i++ {
		if _, err := SnapshotZone(s, "z", func() (int, error) { reads++; return 1, nil }); err != nil {
			t.Fatal(err)
		}
	}
	s.Forget("z")
	if _, ok := SnapshotCopy[int](s, "z"); ok || reads != 2 {
		t.Fatalf("nil snapshot: reads %d, copy %v", reads, ok)
	}
}
