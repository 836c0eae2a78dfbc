"""What is told of jobs: events on the hub to watching clients, callbacks, Prometheus metrics and
readiness."""
