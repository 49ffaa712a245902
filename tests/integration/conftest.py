from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import wire


@pytest.fixture(autouse=True)
def _close_wires() -> Iterator[None]:
    yield
    while wire.OPEN:
        wire.OPEN.pop().close()
