package activities

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
)

// ModuleLogSink is where a ModuleLogWriter puts its batches (*dbmodel.Store).
type ModuleLogSink interface {
	WriteModuleLogBatch(ctx context.Context, entries []dbmodel.ModuleLogEntry) error
}

// ModuleLogWriterOptions bound the writer; zero values take the defaults.
type ModuleLogWriterOptions struct {
	Capacity     int           // rows held while the database lags (default 10000); more are dropped and counted
	Batch        int           // rows per INSERT (default 200)
	Interval     time.Duration // a partial batch waits at most this long (default 100ms)
	WriteTimeout time.Duration // one batch write at most (default 5s)
	MaxBackoff   time.Duration // longest pause between tries while the database is away (default 10s)
}

// ModuleLogWriter keeps the module log off the hot path: Add queues a row
// and returns at once; one goroutine writes the queue in batches. While the
// database is slow or away the queue grows up to Capacity, the writer
// retries with backoff, and rows beyond Capacity are dropped and counted
// (Dropped). Close writes what is queued.
type ModuleLogWriter struct {
	sink ModuleLogSink
	opt  ModuleLogWriterOptions

	mu      sync.Mutex
	queue   []dbmodel.ModuleLogEntry
	dropped int64
	closed  bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// NewModuleLogWriter starts the writer's goroutine.
func NewModuleLogWriter(sink ModuleLogSink, opt ModuleLogWriterOptions) *ModuleLogWriter {
	if opt.Capacity <= 0 {
		opt.Capacity = 10000
	}
	if opt.Batch <= 0 {
		opt.Batch = 200
	}
	if opt.Interval <= 0 {
		opt.Interval = 100 * time.Millisecond
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 5 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 10 * time.Second
	}
	w := &ModuleLogWriter{sink: sink, opt: opt, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Add queues one row; it never blocks on the database. A full queue (or a
// closed writer) drops the row and counts it.
func (w *ModuleLogWriter) Add(e dbmodel.ModuleLogEntry) {
	w.mu.Lock()
	if w.closed || len(w.queue) >= w.opt.Capacity {
		w.dropped++
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, e)
	full := len(w.queue) >= w.opt.Batch
	w.mu.Unlock()
	if full {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped is the number of rows dropped since the start.
func (w *ModuleLogWriter) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Queued is the number of rows waiting to be written.
func (w *ModuleLogWriter) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

func (w *ModuleLogWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opt.Interval)
	defer tick.Stop()
	backoff := time.Duration(0)
	var retryAt time.Time
	failing := false
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		case <-w.wake:
		}
		for time.Now().After(retryAt) {
			n, err := w.writeBatch(context.Background())
			if err != nil {
				if !failing {
					slog.Warn("module log write failed; rows stay queued and are retried", "error", err, "queued", w.Queued())
				}
				failing = true
				backoff = min(max(2*backoff, w.opt.Interval), w.opt.MaxBackoff)
				retryAt = time.Now().Add(backoff)
				break
			}
			if failing {
				slog.Info("module log writes resumed", "queued", w.Queued())
			}
			failing, backoff = false, 0
			if n < w.opt.Batch { // the queue is drained
				break
			}
		}
	}
}

// writeBatch writes the oldest batch; the rows leave the queue only once
// written. It returns how many rows it wrote.
func (w *ModuleLogWriter) writeBatch(ctx context.Context) (int, error) {
	w.mu.Lock()
	n := min(len(w.queue), w.opt.Batch)
	batch := append([]dbmodel.ModuleLogEntry(nil), w.queue[:n]...)
	w.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	wctx, cancel := context.WithTimeout(ctx, w.opt.WriteTimeout)
	err := w.sink.WriteModuleLogBatch(wctx, batch)
	cancel()
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	w.queue = w.queue[n:]
	w.mu.Unlock()
	return n, nil
}

// Close stops the writer and writes every queued row, until ctx ends; the
// rows it could not write are counted as dropped and reported in the error.
// Rows added after Close are dropped.
func (w *ModuleLogWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	var lastErr error
	for ctx.Err() == nil {
		n, err := w.writeBatch(ctx)
		if err != nil {
			lastErr = err
			t := time.NewTimer(w.opt.Interval)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if n == 0 {
			return nil
		}
	}
	w.mu.Lock()
	left := len(w.queue)
	w.dropped += int64(left)
	w.queue = nil
	w.mu.Unlock()
	if left == 0 {
		return nil
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return fmt.Errorf("module log: %d rows not written at shutdown: %w", left, lastErr)
}
