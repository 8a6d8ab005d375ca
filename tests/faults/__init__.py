"""Fault drills: the hub run as in production while its processes and servers fail. See README.md."""
