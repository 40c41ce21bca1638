"""The CUDA memory page in the real chromium, offline: every request is recorded, and the only
one is the page itself; its timeline draws (an SVG polyline of 7 points, 720 pixels wide)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.conftest import screenshot
from tests.kernel.memory_snapshot_example import example_snapshot
from transpector.kernel.placement import memory_html


def test_the_memory_page_draws_and_fetches_nothing(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "memory.html"
    path.write_text(memory_html.render(example_snapshot(), title="tiny"), encoding="utf-8")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri())
    timeline = page.locator("svg.memory-timeline")
    assert len((timeline.locator("polyline").get_attribute("points") or "").split()) == 7
    box = timeline.bounding_box()
    assert box is not None and round(box["width"]) == 720
    assert page.locator("line.oom").count() == 1
    screenshot(page, "memory-page")
    assert requested == [path.as_uri()]
