from __future__ import annotations

from siteserve.launch import main

raise SystemExit(main())
