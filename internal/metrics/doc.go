// Package metrics exposes what `renewd run` does as Prometheus metrics:
// per certificate what `renewd status` shows (read from state.json at every
// scrape, so the numbers survive a restart and include renewals run by hand),
// renewal attempts by result, passes and their duration, ACME request
// latency, and build information. It uses its own registry, never the
// global one.
package metrics
