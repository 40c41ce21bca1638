"""The CUDA memory page, drawn from a small hand-made snapshot: the allocated bytes over the
history (0, 0, 1 MiB, 1.5 MiB, 1.5 MiB, 1 MiB, 1 MiB), the out-of-memory event marked, the
largest live block with where it was made, and torch's segment summary; nothing in the page
points anywhere else (tests/browser/test_memory_page.py opens it in chromium)."""

from __future__ import annotations

from tests.kernel.memory_snapshot_example import MIB, example_snapshot
from transpector.kernel.placement import memory_html


def test_the_curve_follows_allocations_and_frees() -> None:
    curve = memory_html.allocated_over_time(example_snapshot(), 0)
    assert curve == [0, 0, MIB, 3 * MIB // 2, 3 * MIB // 2, MIB, MIB]


def test_the_page_shows_the_peak_the_oom_and_the_block() -> None:
    page = memory_html.render(example_snapshot(), title="tiny")
    assert "<title>CUDA memory — tiny</title>" in page
    assert "allocated now <b class='now'>1.0 MiB</b>, peak <b class='peak'>1.5 MiB</b>" in page
    assert "out-of-memory events: 1</p>" in page and page.count('class="oom"') == 1
    assert "<td>1.0 MiB</td><td>/work/model.py:12 forward</td>" in page
    assert "total_reserved: 2.0MiB" in page  # torch's own segment summary
    assert "http" not in page and "import " not in page and "<script" not in page
