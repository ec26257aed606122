"""The demo's WSGI application with Django instrumented by OpenTelemetry.

instrument() only inserts its middleware and takes a tracer from the global
(proxy) provider: safe in the master before fork. The SDK itself is set up
after the fork, in each worker (tracing_setup.setup)."""

from django.core.wsgi import get_wsgi_application
from opentelemetry.instrumentation.django import DjangoInstrumentor

DjangoInstrumentor().instrument()
application = get_wsgi_application()
