"""Redirect and header rules from the files people already have.

Netlify and Cloudflare Pages read ``_redirects`` and ``_headers`` in the site
root, vercel's ``serve`` reads ``serve.json``, and siteserve.toml has
``[[redirects]]``: each format has its own parser here, they all make the same
rules (``model``), ``load`` reads them from a folder, and ``layer.RulesApp``
applies them in front of the site.
"""
