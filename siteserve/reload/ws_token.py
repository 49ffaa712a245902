"""The reload socket's token, handed to pages of this server's own origin only.

The live-reload WebSocket needs a secret that a page of another origin cannot
have (``websocket.accept``). The client script asks for it here just before
it connects, each time it connects: a restarted server has a new token, and a
tab that was open through the restart gets that one, with no reload first.

It is not written into the pages themselves: each page would then differ from
one server run to the next under the same ETag (RFC 9110 section 8.8.3), and
a tab revalidating after a restart would keep its dead token. A page of
another origin cannot read this answer: the same-origin policy keeps its body
from the page, and the request is refused outright when its ``Origin`` or
``Sec-Fetch-Site`` says it comes from elsewhere, so ``--cors`` does not hand
it out either. The JSON body cannot be run as a script by another page
(``nosniff``, and it is not JavaScript).
"""

from __future__ import annotations

import json

from siteserve.hosts import AllowedHosts
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.http.writer import text_response
from siteserve.origins import foreign_page


def socket_token_response(request: Request, token: str, hosts: AllowedHosts) -> Response:
    if request.method not in ("GET", "HEAD"):
        # RFC 9110 section 15.5.6: a 405 lists what is allowed.
        return text_response(405, "GET only", headers=[("Allow", "GET, HEAD")])
    foreign = foreign_page(request, hosts)
    if foreign is not None:
        return text_response(403, f"the reload token is for this server's own pages ({foreign})")
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(200, headers, json.dumps({"token": token}).encode())
