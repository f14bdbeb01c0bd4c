// Package statuspage renders pbxha's read-only status page: one HTML page,
// served next to /metrics, showing both nodes of the pair, their roles and
// health, this node's probes, the last takeover's timeline and the recent
// events. It is plain server-side HTML (html/template, no script, no build
// step) that reloads itself every few seconds.
package statuspage

import (
	_ "embed"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pbxha/pbxha/control"
	"github.com/pbxha/pbxha/event"
)

// RecentEvents is how many events the page lists.
const RecentEvents = 20

// Source is what the page shows, read at every request. Events returns the
// newest events, oldest first (nil: none kept).
type Source struct {
	Status func() control.Status
	Events func() []event.Event
	Logger *slog.Logger
}

//go:embed page.html.tmpl
var pageText string

// page is the parsed template, built at the first request: parsed at
// start it kept 38 KiB on the heap of every node, most of which never serve
// the page (it needs metrics.listen and a browser).
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"ago":   ago,
		"clock": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
		"lower": strings.ToLower,
	}).Parse(pageText))
})

// view is the template's data.
type view struct {
	St       control.Status
	Nodes    []control.ClusterNode
	Takeover *takeover
	Events   []event.Event // newest first
	Now      time.Time
	Refresh  int
}

// takeover is the newest failover or switchover with its timeline.
type takeover struct {
	Event event.Event
	Steps []step
	Total float64 // ms, the last step
}

type step struct {
	What string
	MS   float64
	Pct  float64 // of Total, for the bar
}

// Handler serves the page at any path it is mounted on. Only GET and HEAD.
func Handler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := src.Status()
		v := view{St: st, Now: st.Now, Refresh: 3}
		if st.Pair != nil {
			v.Nodes = st.Pair.Nodes
		} else {
			v.Nodes = []control.ClusterNode{{Node: st.Node, Self: true, Alive: true, Role: st.Role, Health: st.Health, Maintenance: st.Maintenance}}
		}
		if st.PBX != nil && len(v.Nodes) > 0 && v.Nodes[0].PBX == "" {
			v.Nodes[0].PBX = st.PBX.State
		}
		var evs []event.Event
		if src.Events != nil {
			evs = src.Events()
		}
		v.Takeover = lastTakeover(evs)
		if len(evs) > RecentEvents {
			evs = evs[len(evs)-RecentEvents:]
		}
		v.Events = slices.Clone(evs)
		slices.Reverse(v.Events)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := page().Execute(w, v); err != nil && src.Logger != nil {
			src.Logger.Debug("status page: render", "err", err)
		}
	})
}

// lastTakeover finds the newest failover or switchover and orders its
// timeline steps (the *_ms details) by time.
func lastTakeover(evs []event.Event) *takeover {
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Kind != event.Failover && e.Kind != event.Switchover {
			continue
		}
		t := &takeover{Event: e}
		for k, v := range e.Details {
			name, ok := strings.CutSuffix(k, "_ms")
			if !ok {
				continue
			}
			ms, ok := number(v)
			if !ok {
				continue
			}
			t.Steps = append(t.Steps, step{What: strings.ReplaceAll(name, "_", " "), MS: ms})
		}
		sort.SliceStable(t.Steps, func(a, b int) bool { return t.Steps[a].MS < t.Steps[b].MS })
		if n := len(t.Steps); n > 0 {
			t.Total = t.Steps[n-1].MS
		}
		for i := range t.Steps {
			if t.Total > 0 {
				t.Steps[i].Pct = 100 * t.Steps[i].MS / t.Total
			}
		}
		return t
	}
	return nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// ago renders how long before now t was: "3s", "2m10s", "1h4m".
func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
