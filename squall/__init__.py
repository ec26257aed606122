"""Squall: a Kubernetes-native application server for Django with a C++ HTTP/1.1 engine."""

__version__ = "0.1.0"
