package metrics

import "net/http"

// SetPage serves h (the read-only status page) at / next to /metrics. Call
// it before Serve.
func (m *Metrics) SetPage(h http.Handler) { m.page = h }
