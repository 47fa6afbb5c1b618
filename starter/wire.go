package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// wireClient makes the two Temporal calls every click makes,
// DescribeWorkflowExecution and StartWorkflowExecution, writing and
// reading the few fields they use with protowire. The SDK's client would
// first read the server's capabilities (one more round trip) and, on its
// first message, build the protobuf descriptors of the whole workflow
// service API by reflection: 4-5 ms of CPU, a fifth of the click. The
// field numbers are the API's (wire compatible by the protobuf rules
// Temporal keeps); wire_test.go checks both calls against the SDK and the
// API's generated types on a fake server. Everything else (queries,
// Updates, --follow) goes through the SDK's client.
type wireClient struct {
	address   string
	namespace string
	identity  string

	once  sync.Once
	cc    *grpc.ClientConn
	ccErr error
}

func newWireClient(address, namespace string) *wireClient {
	host, err := os.Hostname()
	if err != nil {
		host = "Unknown"
	}
	// The identity the SDK's client gives itself.
	return &wireClient{address: address, namespace: namespace, identity: fmt.Sprintf("%d@%s@", os.Getpid(), host)}
}

// conn is the connection, set up on the first call (gRPC connects on the
// first RPC): the commands that never call make no connection.
func (w *wireClient) conn() (*grpc.ClientConn, error) {
	w.once.Do(func() {
		w.cc, w.ccErr = grpc.NewClient(w.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	})
	return w.cc, w.ccErr
}

// close closes the connection; a call after it fails.
func (w *wireClient) close() {
	w.once.Do(func() { w.ccErr = errors.New("closed") })
	if w.cc != nil {
		_ = w.cc.Close()
	}
}

// rawCodec passes the messages through as the bytes wire.go wrote and
// reads. Its name keeps gRPC's content type application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// call invokes a WorkflowService method with the namespace header the
// SDK sends (proxies route on it).
func (w *wireClient) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	cc, err := w.conn()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "temporal-namespace", w.namespace)
	var resp []byte
	err = cc.Invoke(ctx, "/temporal.api.workflowservice.v1.WorkflowService/"+method, &req, &resp, grpc.ForceCodecV2(rawCodec{}))
	return resp, err
}

// describe reads the run of the service's workflow id (its latest).
// One attempt: a failed describe has written nothing, and a Temporal that
// cannot be reached fails the command at once.
func (w *wireClient) describe(ctx context.Context, serviceID int) (runState, error) {
	var req []byte
	req = appendString(req, 1, w.namespace)                                           // namespace
	req = appendMessage(req, 2, appendString(nil, 1, pipeline.WorkflowID(serviceID))) // execution.workflow_id
	resp, err := w.call(ctx, "DescribeWorkflowExecution", req)
	if err != nil {
		st := status.Convert(err)
		switch {
		case st.Code() == codes.NotFound && !hasDetail(st, "NamespaceNotFoundFailure"):
			return runState{}, nil
		case st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded:
			return runState{}, fmt.Errorf("temporal at %s is unreachable: %s", w.address, st.Message())
		}
		return runState{}, fmt.Errorf("temporal: %s", st.Message())
	}
	return parseDescribe(resp)
}

// parseDescribe reads a DescribeWorkflowExecutionResponse's
// workflow_execution_info: its status and the search attributes
// TerminatePhase and GraceUntil.
func parseDescribe(resp []byte) (runState, error) {
	info, err := fieldBytes(resp, 2) // workflow_execution_info
	if err != nil {
		return runState{}, err
	}
	status, err := fieldVarint(info, 5) // status
	if err != nil {
		return runState{}, err
	}
	rs := runState{exists: true, running: status == uint64(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)}
	sa, err := fieldBytes(info, 11) // search_attributes
	if err != nil {
		return runState{}, err
	}
	return rs, eachField(sa, func(num protowire.Number, entry []byte) error { // indexed_fields: map<string, Payload>
		if num != 1 {
			return nil
		}
		key, err := fieldBytes(entry, 1)
		if err != nil {
			return err
		}
		payload, err := fieldBytes(entry, 2)
		if err != nil {
			return err
		}
		data, err := fieldBytes(payload, 2) // Payload.data: JSON (json/plain)
		if err != nil {
			return err
		}
		switch string(key) {
		case pipeline.SAPhase.GetName():
			if err := json.Unmarshal(data, &rs.phase); err != nil {
				return fmt.Errorf("temporal: search attribute %s: %v", key, err)
			}
		case pipeline.SAGraceUntil.GetName():
			var t time.Time
			if err := json.Unmarshal(data, &t); err != nil {
				return fmt.Errorf("temporal: search attribute %s: %v", key, err)
			}
			rs.graceUntil = &t
		}
		return nil
	})
}

// startRequest is the service's run as the SDK's ExecuteWorkflow sends it
// for the options the click uses: workflow id terminate-N on the task
// queue, the input and the search attributes as JSON payloads, the
// reuse and conflict policies, request id and identity.
type startRequest struct {
	serviceID, vmid int
	node            string
	taskQueue       string
	input           pipeline.Input
}

func (w *wireClient) startRequest(r startRequest, requestID string) ([]byte, error) {
	input, err := jsonPayload(r.input, "")
	if err != nil {
		return nil, err
	}
	var sa []byte
	for _, a := range []struct {
		name, typ string
		value     any
	}{
		{pipeline.SAServiceID.GetName(), "Int", int64(r.serviceID)},
		{pipeline.SAVmID.GetName(), "Int", int64(r.vmid)},
		{pipeline.SANode.GetName(), "Keyword", r.node},
		{pipeline.SAVmStatus.GetName(), "Keyword", dbmodel.StatusTerminate},
	} {
		p, err := jsonPayload(a.value, a.typ)
		if err != nil {
			return nil, err
		}
		sa = appendMessage(sa, 1, appendMessage(appendString(nil, 1, a.name), 2, p)) // indexed_fields entry
	}
	var req []byte
	req = appendString(req, 1, w.namespace)
	req = appendString(req, 2, pipeline.WorkflowID(r.serviceID))
	req = appendMessage(req, 3, appendString(nil, 1, pipeline.WorkflowName)) // workflow_type.name
	req = appendMessage(req, 4, appendVarint(appendString(nil, 1, r.taskQueue), 2, uint64(enumspb.TASK_QUEUE_KIND_NORMAL)))
	req = appendMessage(req, 5, appendMessage(nil, 1, input)) // input.payloads
	req = appendMessage(req, 6, nil)                          // workflow_execution_timeout: 0, none
	req = appendMessage(req, 7, nil)                          // workflow_run_timeout: 0, none
	req = appendMessage(req, 8, nil)                          // workflow_task_timeout: 0, the server's default
	req = appendString(req, 9, w.identity)
	req = appendString(req, 10, requestID)
	req = appendVarint(req, 11, uint64(enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE))
	req = appendMessage(req, 15, sa)
	req = appendMessage(req, 16, nil) // header: none
	req = appendVarint(req, 22, uint64(enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL))
	return req, nil
}

// start starts the run; started is false when one is already open
// (WorkflowExecutionAlreadyStarted). Transient failures are retried with
// the same request id until ctx ends, as the SDK does: a start that
// reached the server before its answer was lost is then answered as
// started, not as a second run.
func (w *wireClient) start(ctx context.Context, r startRequest) (started bool, err error) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	req, err := w.startRequest(r, hex.EncodeToString(id))
	if err != nil {
		return false, fmt.Errorf("start workflow: %v", err)
	}
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		_, err = w.call(ctx, "StartWorkflowExecution", req)
		if err == nil {
			return true, nil
		}
		st := status.Convert(err)
		if st.Code() == codes.AlreadyExists && hasDetail(st, "WorkflowExecutionAlreadyStartedFailure") {
			return false, nil
		}
		if !retryable(st.Code()) {
			return false, fmt.Errorf("start workflow: %s", st.Message())
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("start workflow: %s", st.Message())
		case <-time.After(backoff):
		}
	}
}

// retryable are the codes the SDK retries.
func retryable(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.ResourceExhausted || c == codes.Aborted || c == codes.Unknown
}

// hasDetail reports whether the status carries the Temporal error detail
// named (temporal.api.errordetails.v1.<name>).
func hasDetail(st *status.Status, name string) bool {
	for _, d := range st.Proto().GetDetails() {
		if strings.HasSuffix(d.GetTypeUrl(), ".errordetails.v1."+name) {
			return true
		}
	}
	return false
}

// jsonPayload is a Payload as the SDK's default converter writes a Go
// value: metadata encoding json/plain (and, for a search attribute, its
// type), data the JSON.
func jsonPayload(v any, saType string) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	meta := func(b []byte, k, v string) []byte { // metadata: map<string, bytes>
		return appendMessage(b, 1, appendMessage(appendString(nil, 1, k), 2, []byte(v)))
	}
	var p []byte
	p = meta(p, "encoding", "json/plain")
	if saType != "" {
		p = meta(p, "type", saType)
	}
	return appendMessage(p, 2, data), nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// eachField calls fn with every length-delimited field of the message b
// and skips the others.
func eachField(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errMalformed
			}
			if err := fn(num, v); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return errMalformed
		}
		b = b[m:]
	}
	return nil
}

var errMalformed = errors.New("temporal: malformed response")

// fieldBytes is the message, string or bytes field num of b (the last
// occurrence, as protobuf reads a scalar; Temporal's server writes each
// field once), nil when absent.
func fieldBytes(b []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	err := eachField(b, func(n protowire.Number, v []byte) error {
		if n == num {
			out = v
		}
		return nil
	})
	return out, err
}

// fieldVarint is the varint field num of b, 0 when absent.
func fieldVarint(b []byte, num protowire.Number) (uint64, error) {
	var out uint64
	for len(b) > 0 {
		n, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return 0, errMalformed
		}
		b = b[k:]
		if n == num && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, errMalformed
			}
			out, b = v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			return 0, errMalformed
		}
		b = b[m:]
	}
	return out, nil
}
