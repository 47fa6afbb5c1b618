package bench

import (
	"bufio"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// promSample is the sum of a Prometheus series family, keyed by metric name
// and one label (e.g. persistence_latency_sum by operation).
type promSample map[string]float64

// scrapeTemporal reads the dev server's /metrics and sums the series the
// report uses: histogram _sum and _count by "operation", and totals.
func scrapeTemporal(addr string) (promSample, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseProm(resp.Body), nil
}

// parseProm sums samples per "name" and per "name|operation".
func parseProm(r io.Reader) promSample {
	out := promSample{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasSuffix(name, "_bucket") {
			continue
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			if j := strings.LastIndexByte(rest, '}'); j >= 0 {
				labels, rest = rest[1:j], rest[j+1:]
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
		if op := labelValue(labels, "operation"); op != "" {
			out[name+"|"+op] += v
		}
	}
	return out
}

func labelValue(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func (p promSample) sub(base promSample) promSample {
	out := promSample{}
	for k, v := range p {
		if d := v - base[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// TemporalStats summarize the dev server's own metrics over a fleet.
type TemporalStats struct {
	PersistenceRequests float64            `json:"persistence_requests"`
	PersistenceS        float64            `json:"persistence_latency_sum_s"` // time spent in its SQLite persistence calls
	PersistenceMeanMs   float64            `json:"persistence_latency_mean_ms"`
	TopPersistenceOps   map[string]float64 `json:"persistence_top_ops_s"` // operation → seconds
	ShardIOSemaphoreS   float64            `json:"shard_io_semaphore_wait_s"`
	ShardLockS          float64            `json:"shard_lock_wait_s"`
	TaskQueueLatencyS   float64            `json:"history_task_queue_latency_sum_s"`
	TopRequests         map[string]float64 `json:"service_requests_top"` // RPCs by operation (all services), the 8 most frequent
	Raw                 string             `json:"-"`
}

func temporalStats(d promSample) TemporalStats {
	t := TemporalStats{
		PersistenceRequests: d["persistence_latency_count"], PersistenceS: round2(d["persistence_latency_sum"]),
		ShardIOSemaphoreS: round2(d["dd_shard_io_semaphore_latency_sum"]), ShardLockS: round2(d["dd_shard_lock_latency_sum"]),
		TaskQueueLatencyS: round2(d["task_latency_queue_sum"]), TopPersistenceOps: map[string]float64{},
	}
	if t.PersistenceRequests > 0 {
		t.PersistenceMeanMs = round2(1000 * d["persistence_latency_sum"] / t.PersistenceRequests)
	}
	type op struct {
		name string
		s    float64
	}
	var ops []op
	for k, v := range d {
		if name, ok := strings.CutPrefix(k, "persistence_latency_sum|"); ok {
			ops = append(ops, op{name, v})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].s > ops[j].s })
	for i, o := range ops {
		if i == 5 {
			break
		}
		t.TopPersistenceOps[o.name] = round2(o.s)
	}
	ops = ops[:0]
	for k, v := range d {
		if name, ok := strings.CutPrefix(k, "service_requests|"); ok {
			ops = append(ops, op{name, v})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].s > ops[j].s })
	t.TopRequests = map[string]float64{}
	for i, o := range ops {
		if i == 8 {
			break
		}
		t.TopRequests[o.name] = o.s
	}
	return t
}
