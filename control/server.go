package control

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pbxha/pbxha/internal/httpguard"
)

// SocketMode is the permission of the control socket: owner and group may use it.
const SocketMode = 0o660

// API is what the daemon exposes. Status is required; an action left nil
// answers 404 with a reason. Every function may be called concurrently.
type API struct {
	// Status returns the current status document.
	Status func() Status
	// PBX runs an operator action on the supervised PBX: "restart", "stop",
	// "start" or "reset". It blocks until the action is carried out or ctx ends.
	PBX func(ctx context.Context, action string) error
	// Maintenance switches maintenance mode: no automatic action while on.
	Maintenance func(on bool) error
	// Switchover moves the primary role to the named node ("" means the
	// node that is not primary now), waiting for the outcome until ctx ends;
	// a request still pending then ends as timed out.
	Switchover func(ctx context.Context, to string, drain time.Duration, force bool) (SwitchoverResult, error)
	// Rebuild starts a standby rebuild and returns once it runs (its
	// progress is in Status.Rebuild). An error wrapping ErrRefused means it
	// did not start and nothing changed.
	Rebuild func(ctx context.Context) error
	// Restart stops the daemon for a restart that keeps the role: a
	// primary leaves the VIP, the database and the PBX in place, and the
	// next process resumes (the service manager starts it again). It
	// returns once the stop has begun.
	Restart func() error
}

// ErrRefused marks an action refused as the node stands (a rebuild on
// the primary, or while one runs); the API answers 409.
var ErrRefused = errors.New("refused")

// SwitchoverResult is the outcome of a planned switchover.
type SwitchoverResult struct {
	Outcome string  `json:"outcome"` // done, timed out, refused
	Target  string  `json:"target"`
	Primary string  `json:"primary"` // the primary when the request ended ("" when unknown)
	Epoch   uint64  `json:"epoch"`
	Drained int     `json:"drained_calls"` // calls that were active when the drain began
	TookMS  float64 `json:"took_ms"`
	Reason  string  `json:"reason,omitempty"` // the last decision's reason
	// Timeline is the switchover's steps as the node that was asked saw
	// them: the drain, its own release or takeover steps, and the peer's
	// role changes as its heartbeats told them.
	Timeline []TimelineStep `json:"timeline,omitempty"`
}

// TimelineStep is one step of a switchover.
type TimelineStep struct {
	At       time.Time `json:"at"`
	OffsetMS float64   `json:"offset_ms"` // after the request reached the daemon
	Node     string    `json:"node"`
	What     string    `json:"what"`
}

// Listen opens the control socket at path, creating its directory (mode 0750)
// when missing. A stale socket left by a dead daemon is replaced; a socket on
// which another daemon still answers is an error, and so is anything at path
// that is not a socket (CheckSocketPath): it is never removed.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", path, err)
	}
	if err := CheckSocketPath(path); err != nil {
		return nil, fmt.Errorf("control: listen: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control: listen %s: another pbxha is answering on this socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: listen %s: remove stale socket: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: listen %s: chmod: %w", path, err)
	}
	return ln, nil
}

// CheckSocketPath returns an error when something other than a unix socket
// exists at path (a regular file, a directory, a link...): Listen would have
// to remove it, and it refuses to. A missing path or a socket is fine.
func CheckSocketPath(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() == fs.ModeSocket {
		return nil
	}
	what := "a " + fi.Mode().Type().String()
	switch {
	case fi.Mode().IsRegular():
		what = "a regular file"
	case fi.IsDir():
		what = "a directory"
	case fi.Mode()&fs.ModeSymlink != 0:
		what = "a symbolic link"
	}
	return fmt.Errorf("%s exists and is %s, not a socket; pbxha will not remove it: move it away or choose another control.socket", path, what)
}

// NewHandler returns the HTTP handler of the control API:
//
//	GET  /v1/status                       the Status document
//	POST /v1/pbx/{restart|stop|start|reset}  an operator action on the PBX
//	POST /v1/maintenance/{on|off}         switch maintenance mode
//	POST /v1/switchover?to=&drain=&timeout=&force= a planned switchover, answered with its outcome
//	POST /v1/standby/rebuild              start a standby rebuild; its progress is in the status
//	POST /v1/restart                      stop for a restart that keeps the role
//
// Actions answer {"ok": true} or an error document with 400 (bad request),
// 404 (nothing to act on), 409 (refused as the node stands) or 500 (the
// action failed). Anything else gets a
// JSON error and a 404 or 405.
func NewHandler(api API) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, api.Status())
	})
	mux.HandleFunc("POST /v1/pbx/{action}", func(w http.ResponseWriter, r *http.Request) {
		action := r.PathValue("action")
		switch {
		case api.PBX == nil:
			writeJSON(w, http.StatusNotFound, apiError{Error: "the PBX is not supervised (pbx.supervise.mode is none)"})
		case action != "restart" && action != "stop" && action != "start" && action != "reset":
			writeJSON(w, http.StatusBadRequest, apiError{Error: "unknown pbx action " + strconv.Quote(action) + "; want restart, stop, start or reset"})
		default:
			answer(w, api.PBX(r.Context(), action))
		}
	})
	mux.HandleFunc("POST /v1/maintenance/{state}", func(w http.ResponseWriter, r *http.Request) {
		state := r.PathValue("state")
		switch {
		case api.Maintenance == nil:
			writeJSON(w, http.StatusNotFound, apiError{Error: "maintenance mode is not available"})
		case state != "on" && state != "off":
			writeJSON(w, http.StatusBadRequest, apiError{Error: "maintenance takes on or off, not " + strconv.Quote(state)})
		default:
			answer(w, api.Maintenance(state == "on"))
		}
	})
	mux.HandleFunc("POST /v1/restart", func(w http.ResponseWriter, _ *http.Request) {
		if api.Restart == nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: "restart is not available"})
			return
		}
		answer(w, api.Restart())
	})
	mux.HandleFunc("POST /v1/switchover", func(w http.ResponseWriter, r *http.Request) {
		if api.Switchover == nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: "no peer configured (peer.paths): switchover needs a pair"})
			return
		}
		q := r.URL.Query()
		drain, err := time.ParseDuration(cmp.Or(q.Get("drain"), "0s"))
		if err != nil || drain < 0 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "drain must be a duration, e.g. 30s"})
			return
		}
		// timeout bounds the wait for the move after the drain; without
		// it, the request's own timeout or the caller's patience does.
		timeout, err := time.ParseDuration(cmp.Or(q.Get("timeout"), "0s"))
		if err != nil || timeout < 0 {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "timeout must be a duration, e.g. 30s"})
			return
		}
		// The answer comes after the drain and the move, which outlast the
		// server's WriteTimeout: the wait is bounded by ctx instead.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		ctx := r.Context()
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, drain+timeout)
			defer cancel()
		}
		res, err := api.Switchover(ctx, q.Get("to"), drain, q.Get("force") == "true")
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/standby/rebuild", func(w http.ResponseWriter, r *http.Request) {
		if api.Rebuild == nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: "standby rebuilds are not configured (database.data_dir and database.start_command)"})
			return
		}
		// Rebuild asks both servers first (package rebuild bounds that at
		// 10s), which may outlast the server's WriteTimeout (5s).
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(RebuildAnswerWithin))
		err := api.Rebuild(r.Context())
		if errors.Is(err, ErrRefused) {
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
			return
		}
		answer(w, err)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func answer(w http.ResponseWriter, err error) {
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// RebuildAnswerWithin bounds the answer to POST /v1/standby/rebuild in
// place of the socket's write timeout: API.Rebuild returns within it.
const RebuildAnswerWithin = 15 * time.Second

// MaxConns is the most connections the control socket keeps open, lowered
// to its share of the file descriptor limit (httpguard.ConnCap).
const MaxConns = 16

// Serve answers requests on ln until ctx is done, then shuts down, giving
// requests in flight one second. Malformed requests are answered by net/http
// with 400 and logged at debug level; they never stop the server. Every
// connection has deadlines and at most MaxConns are open (httpguard).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	lim := httpguard.Default
	lim.MaxConns = httpguard.ConnCap(MaxConns)
	lim.WriteTimeout = 5 * time.Second
	errLog := slog.NewLogLogger(logger.With("component", "control").Handler(), slog.LevelDebug)
	if err := httpguard.Serve(ctx, ln, h, lim, errLog); err != nil {
		return fmt.Errorf("control: serve %s: %w", ln.Addr(), err)
	}
	return nil
}
