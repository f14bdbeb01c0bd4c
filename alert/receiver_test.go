package alert

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// request is one POST a test receiver got.
type request struct {
	id     string // the event id from the json body
	header http.Header
	body   []byte
	sigErr error // Verify's verdict when the receiver has a secret
	code   int   // the status it answered
}

// receiver is a real HTTP server that records requests, checks signatures
// with Verify and answers with the code answer chooses for the n-th request.
type receiver struct {
	secret []byte
	answer func(n int, id string) int // nil: 200
	hold   chan struct{}              // when set, each request waits for it or 5s

	mu   sync.Mutex
	reqs []request
	srv  *httptest.Server
}

func newReceiver(t *testing.T, secret string, answer func(n int, id string) int) *receiver {
	t.Helper()
	r := &receiver{secret: []byte(secret), answer: answer}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

// newReceiverOn starts the receiver on a given address (reusing a port).
func newReceiverOn(t *testing.T, addr string, answer func(n int, id string) int) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	r := &receiver{answer: answer}
	r.srv = httptest.NewUnstartedServer(r)
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	got := request{header: req.Header.Clone(), body: body}
	var payload struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &payload)
	got.id = payload.ID
	if len(r.secret) > 0 {
		got.sigErr = Verify(r.secret, req.Header.Get(HeaderTimestamp), body, req.Header.Get(HeaderSignature), time.Now(), 5*time.Minute)
	}
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-req.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	r.mu.Lock()
	got.code = http.StatusOK
	if r.answer != nil {
		got.code = r.answer(len(r.reqs), got.id)
	}
	r.reqs = append(r.reqs, got)
	r.mu.Unlock()
	w.WriteHeader(got.code)
	_, _ = io.WriteString(w, http.StatusText(got.code))
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// accepted returns the ids answered with 2xx, in arrival order.
func (r *receiver) accepted() []string {
	var ids []string
	for _, q := range r.requests() {
		if q.code/100 == 2 {
			ids = append(ids, q.id)
		}
	}
	return ids
}
