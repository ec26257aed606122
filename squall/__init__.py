"""Squall: a Kubernetes-native application server for Django with a C++ HTTP/1.1 engine."""

from squall.deadlines import RequestTimeout

__version__ = "0.1.0"

__all__ = ["RequestTimeout", "__version__"]
