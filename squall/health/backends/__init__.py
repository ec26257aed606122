"""Health check backends: one small module per kind of dependency.

``base`` holds the exception types and :class:`BaseHealthCheckBackend`, the
API shared with django-health-check(-full-of-juice).
"""
