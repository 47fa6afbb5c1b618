package pve

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Waiters get the slots in arrival order, a cancelled waiter leaves the
// line without taking a slot, and a waiter reports every tick.
func TestSlotsServeWaitersInOrder(t *testing.T) {
	s := &slots{free: 1}
	hold, err := s.acquire(context.Background(), time.Hour, nil, "n")
	require.NoError(t, err)

	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		// Queue the waiters one after the other.
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rel, err := s.acquire(context.Background(), time.Hour, nil, "n")
			require.NoError(t, err)
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			rel()
		}(i)
		require.Eventually(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiters) == i+1 }, time.Second, time.Millisecond)
	}
	// A waiter that gives up leaves the line.
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan struct{}, 100)
	done := make(chan error)
	go func() {
		_, err := s.acquire(ctx, time.Millisecond, func() { ticks <- struct{}{} }, "n")
		done <- err
	}()
	<-ticks
	cancel()
	require.ErrorContains(t, <-done, "wait for a free slot on node n")

	hold()
	wg.Wait()
	require.Equal(t, []int{0, 1, 2, 3, 4}, order)
	require.Equal(t, 1, s.free)
	require.Empty(t, s.waiters)
}
