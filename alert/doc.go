// Package alert delivers pbxha events to webhook endpoints (pbxha JSON, Slack
// and Alertmanager formats) from a durable on-disk outbox, with signing,
// retries, per-endpoint ordering and flap damping.
//
// The Dispatcher never blocks the code that publishes: Publish appends to a
// bounded in-memory hand-off, and the dispatcher's own goroutine writes each
// event to the outbox (one fsynced file per event and endpoint) before any
// delivery starts. Each endpoint has its own delivery loop, so a slow or dead
// endpoint delays nobody else. A file leaves the outbox only after a 2xx answer,
// when it grows older than MaxAge, when the endpoint rejects the payload itself
// (400, 413, 415, 422), or when the endpoint's queue overflows (the oldest
// lowest-severity event goes first).
package alert
