"""Health checks for Squall's Kubernetes probes, settings-compatible with
django-health-check-full-of-juice 0.2.0. See docs/health-checks.md."""
