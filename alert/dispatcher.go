package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxha/pbxha/event"
)

// Dispatcher queues events in the outbox and delivers them to every endpoint
// that wants them. Publish, Status and Counters are safe for concurrent use;
// Run is called once.
type Dispatcher struct {
	cfg  Config
	log  *slog.Logger
	eps  []*endpointState
	flap *flapDamper       // used by the intake goroutine only
	rnd  func(int64) int64 // jitter source

	mu             sync.Mutex
	pending        []event.Event // handed over by Publish, not yet in the outbox
	handoffDropped uint64
	unlogged       uint64 // hand-off drops not yet logged
	wake           chan struct{}

	suppressed atomic.Uint64
	corrupt    atomic.Uint64
	started    atomic.Bool
}

type endpointState struct {
	ep     Endpoint
	box    outbox
	client *http.Client
	wake   chan struct{}
	seq    uint64 // last record sequence; intake goroutine only

	mu    sync.Mutex
	items []*entry // queue order
	st    EndpointStatus
}

// EndpointStatus is one endpoint's delivery state and counters, for `pbxha
// status` and metrics. Counters count since the process started.
type EndpointStatus struct {
	Name        string
	Queued      int       // events waiting for delivery to this endpoint, MemoryOnly included
	MemoryOnly  int       // of those, events the outbox could not write (a full or read-only disk): delivered while the process lives, lost if it stops first
	Delivered   uint64    // events answered with 2xx
	Dropped     uint64    // Overflowed + Expired + Rejected
	Overflowed  uint64    // dropped because the queue held MaxQueued events
	Expired     uint64    // dropped undelivered after MaxAge
	Rejected    uint64    // dropped because the endpoint refused the payload (400, 413, 415, 422) or it could not be encoded
	Failures    uint64    // failed delivery attempts (each retry counts)
	LastSuccess time.Time // zero when none
	LastError   string    // empty when none
	LastErrorAt time.Time // zero when none
}

// Counters are the dispatcher's own counters, beside the per-endpoint ones.
type Counters struct {
	Pending        int    // events handed to Publish and not yet written to the outbox
	HandoffDropped uint64 // events Publish dropped because the hand-off was full
	Suppressed     uint64 // probe_state events held back by flap damping (summaries replace them)
	Corrupt        uint64 // unreadable outbox files moved aside at start
}

// New validates cfg, applies defaults and loads every endpoint's outbox
// folder (Dir/<endpoint name>), so events queued before a restart are sent
// first. Unreadable files are logged and moved to a corrupt/ subfolder.
func New(cfg Config, logger *slog.Logger) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	d := &Dispatcher{
		cfg:  cfg,
		log:  logger,
		flap: newFlapDamper(cfg.FlapWindow, cfg.FlapThreshold),
		rnd:  randInt64N,
		wake: make(chan struct{}, 1),
	}
	for _, ep := range cfg.Endpoints {
		box, recs, paths, problems, err := loadOutbox(filepath.Join(cfg.Dir, ep.Name))
		if err != nil {
			return nil, err
		}
		for _, p := range problems {
			d.corrupt.Add(1)
			logger.Error("alert: unreadable outbox file set aside", "endpoint", ep.Name, "err", p)
		}
		es := &endpointState{
			ep:     ep,
			box:    box,
			client: &http.Client{Timeout: ep.Timeout},
			wake:   make(chan struct{}, 1),
			st:     EndpointStatus{Name: ep.Name},
		}
		for i, r := range recs {
			es.items = append(es.items, &entry{rec: r, path: paths[i]})
			es.seq = max(es.seq, r.Seq)
		}
		if len(recs) > 0 {
			logger.Info("alert: outbox loaded", "endpoint", ep.Name, "queued", len(recs))
		}
		d.eps = append(d.eps, es)
	}
	d.warnOrphans()
	return d, nil
}

// warnOrphans logs outbox folders of endpoints no longer configured; their
// events stay on disk and are sent if the endpoint comes back.
func (d *Dispatcher) warnOrphans() {
	if d.cfg.Dir == "" {
		return
	}
	des, err := os.ReadDir(d.cfg.Dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !de.IsDir() || slices.ContainsFunc(d.eps, func(es *endpointState) bool { return es.ep.Name == de.Name() }) {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d.cfg.Dir, de.Name(), "*.json"))
		if len(files) > 0 {
			d.log.Warn("alert: outbox of an endpoint no longer configured left on disk", "endpoint", de.Name(), "queued", len(files))
		}
	}
}

// minHandoff is the least number of events the hand-off between Publish and
// the outbox holds, whatever MaxQueued says.
const minHandoff = 1000

// Publish hands e to the dispatcher and returns at once; it never blocks on
// disk or network. The dispatcher's goroutine writes it to the outbox before
// delivering it. When max(MaxQueued, 1000) events wait in the hand-off (the
// outbox writer is stuck), the oldest of the lowest severity is dropped and
// counted. e.Details must not be changed after
// Publish.
func (d *Dispatcher) Publish(e event.Event) {
	e.Details = maps.Clone(e.Details)
	d.mu.Lock()
	d.pending = append(d.pending, e)
	if len(d.pending) > max(d.cfg.MaxQueued, minHandoff) {
		i := victim(len(d.pending), func(i int) event.Severity { return d.pending[i].Severity }, func(int) bool { return false })
		d.pending = slices.Delete(d.pending, i, i+1)
		d.handoffDropped++
		d.unlogged++
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run writes published events to the outbox and delivers them, one loop per
// endpoint, until ctx ends. Before it returns it writes events still in the
// hand-off (and flap summaries still held) to the outbox, so a graceful stop
// loses nothing; queued events stay on disk for the next start. Events the
// outbox could not write (MemoryOnly) are delivered like the others while
// the process lives, written as soon as the disk takes writes again, and
// logged as lost if the stop comes first.
func (d *Dispatcher) Run(ctx context.Context) {
	if !d.started.CompareAndSwap(false, true) {
		d.log.Error("alert: dispatcher Run called twice; ignored")
		return
	}
	var wg sync.WaitGroup
	for _, es := range d.eps {
		wg.Go(func() { d.deliver(ctx, es) })
	}
	d.intake(ctx)
	wg.Wait()
	for _, st := range d.Status() {
		if st.MemoryOnly > 0 {
			d.log.Error("alert: events the outbox could not write are lost at this stop", "endpoint", st.Name, "events", st.MemoryOnly)
		}
	}
}

// intake moves events from the hand-off through flap damping into the outbox.
func (d *Dispatcher) intake(ctx context.Context) {
	for {
		var timer *time.Timer
		var fire <-chan time.Time
		if next := d.flap.Next(); !next.IsZero() {
			timer = time.NewTimer(time.Until(next))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			now := time.Now()
			d.store(d.damp(d.take(), now), now)
			d.store(d.flap.Flush(now), now)
			return
		case <-d.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		now := time.Now()
		d.store(d.damp(d.take(), now), now)
	}
}

// take empties the hand-off.
func (d *Dispatcher) take() []event.Event {
	d.mu.Lock()
	batch := d.pending
	d.pending = nil
	lost := d.unlogged
	d.unlogged = 0
	d.mu.Unlock()
	if lost > 0 {
		d.log.Warn("alert: hand-off full, dropped the oldest lowest-severity events", "dropped", lost)
	}
	return batch
}

// damp returns summaries of flap windows that ended, then the events of batch
// that flap damping lets through.
func (d *Dispatcher) damp(batch []event.Event, now time.Time) []event.Event {
	out := d.flap.Due(now)
	for _, e := range batch {
		if d.flap.Observe(e, now) {
			out = append(out, e)
		} else {
			d.suppressed.Add(1)
		}
	}
	return out
}

// store writes events to the outbox of every endpoint that wants them and
// wakes those endpoints' delivery loops.
func (d *Dispatcher) store(events []event.Event, now time.Time) {
	if len(events) == 0 {
		return
	}
	for i := range events {
		normalize(&events[i], now)
	}
	for _, es := range d.eps {
		d.persist(es)
		var added []*entry
		for _, e := range events {
			if !es.ep.Wants(e) {
				continue
			}
			es.seq++
			rec := record{Version: recordVersion, Endpoint: es.ep.Name, Seq: es.seq, Queued: now, Event: e}
			path, err := es.box.write(rec)
			if err != nil {
				d.log.Error("alert: outbox write failed; the event is kept in memory only", "endpoint", es.ep.Name, "event", e.ID, "err", err)
			}
			added = append(added, &entry{rec: rec, path: path})
		}
		if len(added) == 0 {
			continue
		}
		if err := es.box.syncDir(); err != nil {
			d.log.Error("alert: outbox sync failed", "endpoint", es.ep.Name, "err", err)
		}
		var dropped []*entry
		es.mu.Lock()
		es.items = append(es.items, added...)
		for len(es.items) > d.cfg.MaxQueued {
			i := victim(len(es.items),
				func(i int) event.Severity { return es.items[i].rec.Event.Severity },
				func(i int) bool { return es.items[i].inflight })
			if i < 0 {
				break
			}
			dropped = append(dropped, es.items[i])
			es.items = slices.Delete(es.items, i, i+1)
			es.st.Overflowed++
			es.st.Dropped++
		}
		es.mu.Unlock()
		for _, en := range dropped {
			e := en.rec.Event
			d.log.Warn("alert: outbox full, dropped the oldest lowest-severity event",
				"endpoint", es.ep.Name, "event", e.ID, "kind", e.Kind, "severity", e.Severity.String(), "max_queued", d.cfg.MaxQueued)
			if err := es.box.remove(en.path); err != nil {
				d.log.Error("alert: outbox remove failed", "endpoint", es.ep.Name, "err", err)
			}
		}
		select {
		case es.wake <- struct{}{}:
		default:
		}
	}
}

// persist writes to the outbox the events of es that were kept in memory
// only, now that a new batch arrives: once the disk takes writes again they
// survive a restart. Only the intake goroutine calls it; a delivery that
// ends meanwhile takes the path under es.mu, so the file is removed either
// by it or here.
func (d *Dispatcher) persist(es *endpointState) {
	es.mu.Lock()
	var todo []*entry
	for _, en := range es.items {
		if en.path == "" {
			todo = append(todo, en)
		}
	}
	es.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	paths := make([]string, len(todo))
	for i, en := range todo {
		path, err := es.box.write(en.rec)
		if err != nil {
			return // still failing; the next batch tries again
		}
		paths[i] = path
	}
	if err := es.box.syncDir(); err != nil {
		return
	}
	var stale []string
	es.mu.Lock()
	for i, en := range todo {
		if !slices.Contains(es.items, en) {
			stale = append(stale, paths[i]) // delivered or dropped meanwhile
			continue
		}
		en.path = paths[i]
	}
	es.mu.Unlock()
	for _, p := range stale {
		_ = es.box.remove(p)
	}
	d.log.Info("alert: events kept in memory only are in the outbox again", "endpoint", es.ep.Name, "events", len(todo)-len(stale))
}

// normalize fills in what a bare Event lacks and makes its details encodable,
// so that every stored record can be read back and sent.
func normalize(e *event.Event, now time.Time) {
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.ID == "" {
		e.ID = event.NewID(e.Time)
	}
	if e.Kind == "" {
		e.Kind = "unknown"
	}
	if _, err := json.Marshal(e.Details); err != nil {
		clean := make(map[string]any, len(e.Details))
		for k, v := range e.Details {
			if _, err := json.Marshal(v); err != nil {
				clean[k] = fmt.Sprint(v)
			} else {
				clean[k] = v
			}
		}
		e.Details = clean
	}
}

// deliver sends one endpoint's queue in order until ctx ends.
func (d *Dispatcher) deliver(ctx context.Context, es *endpointState) {
	failures := 0
	for {
		es.mu.Lock()
		var head *entry
		if len(es.items) > 0 {
			head = es.items[0]
			head.inflight = true
		}
		es.mu.Unlock()
		if head == nil {
			select {
			case <-ctx.Done():
				return
			case <-es.wake:
				continue
			}
		}
		e := head.rec.Event
		now := time.Now()
		if now.Sub(head.rec.Queued) >= d.cfg.MaxAge {
			d.finish(es, head, func(st *EndpointStatus) { st.Expired++; st.Dropped++ })
			d.log.Error("alert: event dropped undelivered after max_age",
				"endpoint", es.ep.Name, "event", e.ID, "kind", e.Kind, "attempts", failures, "max_age", d.cfg.MaxAge)
			failures = 0
			continue
		}
		payload, err := Encode(es.ep.Format, e, d.cfg.ExternalURL)
		if err != nil {
			d.finish(es, head, func(st *EndpointStatus) { st.Rejected++; st.Dropped++; st.LastError, st.LastErrorAt = err.Error(), now })
			d.log.Error("alert: event cannot be encoded; dropped", "endpoint", es.ep.Name, "event", e.ID, "err", err)
			failures = 0
			continue
		}
		code, _, err := post(ctx, es.client, es.ep, e.ID, payload, now)
		if ctx.Err() != nil {
			es.mu.Lock()
			head.inflight = false
			es.mu.Unlock()
			return
		}
		done := time.Now()
		switch {
		case err == nil:
			d.finish(es, head, func(st *EndpointStatus) { st.Delivered++; st.LastSuccess = done })
			if failures > 0 {
				d.log.Info("alert: event delivered after retries", "endpoint", es.ep.Name, "event", e.ID, "attempts", failures+1)
			}
			failures = 0
			continue
		case code != 0 && !retryable(code):
			d.finish(es, head, func(st *EndpointStatus) {
				st.Rejected++
				st.Dropped++
				st.Failures++
				st.LastError, st.LastErrorAt = err.Error(), done
			})
			d.log.Error("alert: endpoint refused the event; dropped", "endpoint", es.ep.Name, "event", e.ID, "kind", e.Kind, "code", code, "err", err)
			failures = 0
			continue
		}
		failures++
		es.mu.Lock()
		es.st.Failures++
		es.st.LastError, es.st.LastErrorAt = err.Error(), done
		es.mu.Unlock()
		wait := backoff(failures, d.cfg.BackoffInitial, d.cfg.BackoffMax, d.rnd)
		if left := head.rec.Queued.Add(d.cfg.MaxAge).Sub(done); left < wait {
			wait = max(left, 0)
		}
		d.log.Warn("alert: delivery failed; will retry", "endpoint", es.ep.Name, "event", e.ID, "attempt", failures, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			es.mu.Lock()
			head.inflight = false
			es.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// finish removes head from the queue and the outbox and updates the counters.
func (d *Dispatcher) finish(es *endpointState, head *entry, count func(*EndpointStatus)) {
	es.mu.Lock()
	if i := slices.Index(es.items, head); i >= 0 {
		es.items = slices.Delete(es.items, i, i+1)
	}
	count(&es.st)
	path := head.path // persist may have set it
	es.mu.Unlock()
	if err := es.box.remove(path); err != nil {
		d.log.Error("alert: outbox remove failed", "endpoint", es.ep.Name, "err", err)
	}
}

// Status returns every endpoint's state, in config order.
func (d *Dispatcher) Status() []EndpointStatus {
	out := make([]EndpointStatus, len(d.eps))
	for i, es := range d.eps {
		es.mu.Lock()
		out[i] = es.st
		out[i].Queued = len(es.items)
		for _, en := range es.items {
			if en.path == "" {
				out[i].MemoryOnly++
			}
		}
		es.mu.Unlock()
	}
	return out
}

// Counters returns the dispatcher's own counters.
func (d *Dispatcher) Counters() Counters {
	d.mu.Lock()
	c := Counters{Pending: len(d.pending), HandoffDropped: d.handoffDropped}
	d.mu.Unlock()
	c.Suppressed = d.suppressed.Load()
	c.Corrupt = d.corrupt.Load()
	return c
}

// Depth returns the number of events waiting to be delivered, summed over
// endpoints, plus those still in the hand-off: the outbox depth `pbxha status`
// shows.
func (d *Dispatcher) Depth() int {
	n := d.Counters().Pending
	for _, s := range d.Status() {
		n += s.Queued
	}
	return n
}

var _ event.Sink = (*Dispatcher)(nil)
