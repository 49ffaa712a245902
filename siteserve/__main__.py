from __future__ import annotations

from siteserve.cli import main

raise SystemExit(main())
