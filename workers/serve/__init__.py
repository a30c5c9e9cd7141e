"""`newsflow serve`: one HTTP process for orchestrators, Prometheus and people.

- `http`: the small HTTP layer: plain `Request -> Response` handlers, a route matcher, and the
  stdlib threading server that runs them (no web framework).
- `routes`: the route table, in one place, and the handlers of the pages and the JSON API.
- `context`: what the handlers share (settings, connections with short timeouts, the metrics
  registry, the cached overview).
- `health`: the dependency probes behind /healthz, /readyz and the `*_up` gauges.
- `overview`: /api/overview, every section computed on its own so that one dependency being
  down blanks only the sections that need it.
- `dashboard.html`: the live page (inline CSS, JS and SVG; no CDN).
"""
