"""Chipmunk: a dynamic-DNS server and client for self-hosters, systemd-native."""
__version__ = "2.1.0"
