"""``/__siteserve/health``: a 200 for scripts, load balancers and container health checks.

``ShareApp`` answers it, and the password check lets it through, on purpose:
health probes (Docker's HEALTHCHECK, Kubernetes' httpGet, uptime monitors)
rarely carry credentials, and the answer says only that a server is up, which
the 401 on every other path says already. It never shows a file, a name or a
setting.
"""

from __future__ import annotations

from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.http.writer import text_response

HEALTH_PATH = "/__siteserve/health"
_BODY = b'{"status":"ok"}\n'


def health_response(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        # RFC 9110 section 15.5.6: a 405 lists what is allowed.
        return text_response(405, "GET only", headers=[("Allow", "GET, HEAD")])
    headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(200, headers, _BODY)
