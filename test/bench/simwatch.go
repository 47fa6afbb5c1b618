package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// SimWatch serves the simulator's handler and counts, per node, the API
// calls in flight: all of them, and the "heavy" ones the per-node limit is
// about (POST .../status/shutdown, POST .../status/stop, DELETE
// /nodes/{node}/qemu/{vmid}). It also samples the simulator's running tasks.
type SimWatch struct {
	sim  *pvesim.Sim
	srvs []*http.Server

	mu       sync.Mutex
	inflight map[string]int // node → all calls in flight
	heavy    map[string]int // node → stop/shutdown/DELETE calls in flight
	wHeavy   map[string]int // node → the worker's stop/shutdown/DELETE calls in flight
	peakAll  map[string]int
	peakHvy  map[string]int
	peakWHvy map[string]int
	peakTask map[string]int // node → peak running qmshutdown/qmstop/qmdestroy tasks (sampled)
	samples  int
	served   [2]atomic.Int64 // calls served on the worker's port [0] and the starter's [1], never reset
	stop     chan struct{}
	stopped  chan struct{}
}

// StartSimWatch serves sim on two loopback ports (plain HTTP), one for the
// worker and one for the starter, and returns their base URLs
// (http://127.0.0.1:PORT/api2/json): the per-node limit is the worker's.
func StartSimWatch(sim *pvesim.Sim) (w *SimWatch, workerURL, starterURL string, err error) {
	w = &SimWatch{sim: sim}
	w.Reset()
	h := sim.Handler()
	var urls []string
	for _, fromWorker := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			w.Close()
			return nil, "", "", err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if fromWorker {
				w.served[0].Add(1)
			} else {
				w.served[1].Add(1)
			}
			node, heavy := classifyPVE(r.Method, r.URL.Path)
			if node != "" {
				w.enter(node, heavy, fromWorker)
				defer w.leave(node, heavy, fromWorker)
			}
			h.ServeHTTP(rw, r) // rw unwrapped: the simulator hijacks it for custom reason phrases
		}), ReadHeaderTimeout: 10 * time.Second}
		w.srvs = append(w.srvs, srv)
		go func() { _ = srv.Serve(ln) }()
		urls = append(urls, "http://"+ln.Addr().String()+"/api2/json")
	}
	return w, urls[0], urls[1], nil
}

// classifyPVE returns the node of a /nodes/{node}/... path and whether the
// call is a stop, shutdown or VM DELETE.
func classifyPVE(method, path string) (node string, heavy bool) {
	rest, ok := strings.CutPrefix(path, "/api2/json/nodes/")
	if !ok {
		return "", false
	}
	node, rest, _ = strings.Cut(rest, "/")
	switch {
	case method == http.MethodPost && strings.HasPrefix(rest, "qemu/") &&
		(strings.HasSuffix(rest, "/status/shutdown") || strings.HasSuffix(rest, "/status/stop")):
		heavy = true
	case method == http.MethodDelete && strings.HasPrefix(rest, "qemu/") && strings.Count(rest, "/") == 1:
		heavy = true
	}
	return node, heavy
}

func (w *SimWatch) enter(node string, heavy, fromWorker bool) {
	w.mu.Lock()
	w.inflight[node]++
	w.peakAll[node] = max(w.peakAll[node], w.inflight[node])
	if heavy {
		w.heavy[node]++
		w.peakHvy[node] = max(w.peakHvy[node], w.heavy[node])
		if fromWorker {
			w.wHeavy[node]++
			w.peakWHvy[node] = max(w.peakWHvy[node], w.wHeavy[node])
		}
	}
	w.mu.Unlock()
}

func (w *SimWatch) leave(node string, heavy, fromWorker bool) {
	w.mu.Lock()
	w.inflight[node]--
	if heavy {
		w.heavy[node]--
		if fromWorker {
			w.wHeavy[node]--
		}
	}
	w.mu.Unlock()
}

// Served returns how many calls the worker's port and the starter's port
// have served since StartSimWatch.
func (w *SimWatch) Served() (worker, starter int) {
	return int(w.served[0].Load()), int(w.served[1].Load())
}

// Reset clears the peaks (calls in flight stay counted).
func (w *SimWatch) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight == nil {
		w.inflight, w.heavy, w.wHeavy = map[string]int{}, map[string]int{}, map[string]int{}
	}
	w.peakAll, w.peakHvy, w.peakWHvy, w.peakTask = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	w.samples = 0
}

// SampleTasks samples the simulator's running stop/destroy tasks every
// interval until StopSampling.
func (w *SimWatch) SampleTasks(interval time.Duration) {
	w.stop, w.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.stopped)
		tick(interval, w.stop, w.sampleTasks)
	}()
}

// sampleTasks counts the running stop/destroy tasks per node once.
func (w *SimWatch) sampleTasks() {
	per := map[string]int{}
	for _, tk := range w.sim.Tasks() {
		if tk.Running && (tk.Type == "qmshutdown" || tk.Type == "qmstop" || tk.Type == "qmdestroy") {
			per[tk.Node]++
		}
	}
	w.mu.Lock()
	for n, c := range per {
		w.peakTask[n] = max(w.peakTask[n], c)
	}
	w.samples++
	w.mu.Unlock()
}

// StopSampling ends SampleTasks.
func (w *SimWatch) StopSampling() {
	if w.stop != nil {
		close(w.stop)
		<-w.stopped
		w.stop = nil
	}
}

// NodePeaks are the peaks since Reset.
type NodePeaks struct {
	Calls           map[string]int `json:"calls"`             // any API call in flight, per node
	StopCalls       map[string]int `json:"stop_calls"`        // shutdown/stop/DELETE calls in flight, per node (worker + starter)
	WorkerStopCalls map[string]int `json:"worker_stop_calls"` // the worker's alone: what a per-node limit in the worker bounds
	Tasks           map[string]int `json:"tasks"`             // running qmshutdown/qmstop/qmdestroy tasks, per node (sampled)
	Samples         int            `json:"task_samples"`
}

// Peaks returns the peaks since Reset.
func (w *SimWatch) Peaks() NodePeaks {
	w.mu.Lock()
	defer w.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return NodePeaks{Calls: cp(w.peakAll), StopCalls: cp(w.peakHvy), WorkerStopCalls: cp(w.peakWHvy), Tasks: cp(w.peakTask), Samples: w.samples}
}

// Close stops the server.
func (w *SimWatch) Close() error {
	w.StopSampling()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	for _, srv := range w.srvs {
		err = errors.Join(err, srv.Shutdown(ctx))
	}
	return err
}
