package bench

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

func TestForEachRunsEveryIndexWithinTheLimitAndJoinsErrors(t *testing.T) {
	var running, peak atomic.Int64
	seen := make([]bool, 50)
	err := forEach(len(seen), 4, func(i int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		seen[i] = true
		if i%10 == 3 {
			return fmt.Errorf("index %d", i)
		}
		return nil
	})
	for i, ok := range seen {
		if !ok {
			t.Fatalf("index %d never ran", i)
		}
	}
	if peak.Load() > 4 {
		t.Fatalf("%d ran at once, limit 4", peak.Load())
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 5 {
		t.Fatalf("want the 5 errors joined, got %v", err)
	}
}
