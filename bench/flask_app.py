"""The Flask side of bench.dynamic: the same page files, rendered with render_template.

    python -m bench.flask_app SITE_FOLDER PORT [--files]

Flask's development server (``app.run(threaded=True)``, HTTP/1.1 keep-alive),
with its request log turned off like siteserve's ``--quiet``. ``--files`` (bench.static)
also sends every other path as a file of the folder, through Flask's static route.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from flask import Flask, render_template

from bench.proc import LOCALHOST
from bench.sitegen import PAGE_NAME


def make_app(root: Path, files: bool = False) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(root),
        static_folder=str(root) if files else None,
        static_url_path="" if files else None,
    )
    # Flask escapes only templates named *.html and the like; page.html.jinja
    # must be escaped too, as siteserve does, so that both write the same bytes.
    app.jinja_options = {**app.jinja_options, "autoescape": True}
    items = root / "_data" / "items.json"
    # bench.static's folder has files only, no page data.
    data = {"items": json.loads(items.read_text())} if items.exists() else {}

    @app.route("/page")
    def page() -> str:
        return render_template(f"{PAGE_NAME}.jinja", data=data)

    return app


def main(argv: list[str]) -> int:
    root, port = Path(argv[0]), int(argv[1])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_app(root, files="--files" in argv[2:]).run(host=LOCALHOST, port=port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
