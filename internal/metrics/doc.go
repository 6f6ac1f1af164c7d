// Package metrics exposes what `renewd run` does as Prometheus metrics:
// per certificate what `renewd status` shows (from the records the daemon
// holds in memory: read at start, replaced by each pass's),
// renewal attempts by result, passes and their duration, ACME request
// latency, and build information. It uses its own registry, never the
// global one.
package metrics
