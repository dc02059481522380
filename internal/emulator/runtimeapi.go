package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RuntimeAPI is a small implementation of the Lambda Runtime API (the interface a provided.al2023
// bootstrap polls), so that a built binary runs here as it runs in Lambda. AWS's runtime
// interface emulator cannot be installed on this machine.
type RuntimeAPI struct {
	srv     *http.Server
	addr    string
	queue   chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     atomic.Int64
	// InitErrors receives what the function reports through /runtime/init/error.
	InitErrors chan FunctionError
	// FunctionARN is reported to the function in every invocation.
	FunctionARN string
}

// FunctionError is what a function reports for a failed invocation.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	done     chan result
}

type result struct {
	body []byte
	err  *FunctionError
}

// StartRuntimeAPI listens on a free loopback port.
func StartRuntimeAPI() (*RuntimeAPI, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API: %w", err)
	}
	r := &RuntimeAPI{
		addr: l.Addr().String(), queue: make(chan *invocation, 64), pending: map[string]*invocation{},
		InitErrors:  make(chan FunctionError, 4),
		FunctionARN: "arn:aws:lambda:" + Region + ":000000000000:function:local",
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", r.respond)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", r.fail)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", r.initError)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API.
func (r *RuntimeAPI) Addr() string { return r.addr }

// Close stops the server.
func (r *RuntimeAPI) Close() { _ = r.srv.Close() }

// Invoke hands event to the next poll of the function and waits for its answer. A function
// error comes back as *FunctionError.
func (r *RuntimeAPI) Invoke(ctx context.Context, event []byte, timeout time.Duration) ([]byte, error) {
	inv := &invocation{
		id:       fmt.Sprintf("req-%06d", r.seq.Add(1)),
		event:    event,
		deadline: time.Now().Add(timeout),
		done:     make(chan result, 1),
	}
	r.mu.Lock()
	r.pending[inv.id] = inv
	r.mu.Unlock()
	defer func() { r.mu.Lock(); delete(r.pending, inv.id); r.mu.Unlock() }()
	select {
	case r.queue <- inv:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-inv.done:
		if res.err != nil {
			return nil, res.err
		}
		return res.body, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(timeout):
		return nil, fmt.Errorf("invocation %s timed out after %s", inv.id, timeout)
	}
}

func (r *RuntimeAPI) next(w http.ResponseWriter, req *http.Request) {
	select {
	case inv := <-r.queue:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(inv.deadline.UnixMilli()))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", r.FunctionARN)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.event)
	case <-req.Context().Done():
	}
}

func (r *RuntimeAPI) finish(w http.ResponseWriter, req *http.Request, res result) {
	r.mu.Lock()
	inv, ok := r.pending[req.PathValue("id")]
	r.mu.Unlock()
	if !ok {
		http.Error(w, `{"errorMessage":"unknown request id"}`, http.StatusBadRequest)
		return
	}
	inv.done <- res
	w.WriteHeader(http.StatusAccepted)
}

func (r *RuntimeAPI) respond(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.finish(w, req, result{body: b})
}

func (r *RuntimeAPI) fail(w http.ResponseWriter, req *http.Request) {
	var fe FunctionError
	b, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(b, &fe); err != nil {
		fe = FunctionError{Message: strings.TrimSpace(string(b)), Type: "Unparsable"}
	}
	r.finish(w, req, result{err: &fe})
}

func (r *RuntimeAPI) initError(w http.ResponseWriter, req *http.Request) {
	var fe FunctionError
	b, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(b, &fe)
	select {
	case r.InitErrors <- fe:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}
