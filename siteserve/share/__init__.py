"""Sharing a folder: passwords, CORS, HTTPS, folder downloads as zip, uploads, health.

Each concern is one module; ``assemble.build_app`` stacks the wrappers.
"""
