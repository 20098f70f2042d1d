"""Operating a node: its metrics for Prometheus (`metrics`, served by `views`),
its structured logs (`logs`), and the little state they need (`models`)."""
