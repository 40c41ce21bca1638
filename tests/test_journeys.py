"""The README's journeys show exactly the pictures tests/browser/journeys.py lists, journey by
journey in order, and each picture is in docs/images/journeys/."""

from __future__ import annotations

import re
from pathlib import Path

from tests.browser.journeys import FOLDER, JOURNEYS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_shows_every_journey_s_pictures() -> None:
    text = README.read_text()
    section = text.split("\n## Journeys\n", 1)[1].split("\n## ", 1)[0]
    shown: dict[str, list[str]] = {}
    for journey, body in re.findall(r"\*\*(.+?)\.\*\* (.*?)(?=\n\*\*|\Z)", section, re.S):
        shown[journey] = re.findall(r"docs/images/journeys/([a-z0-9-]+)\.png", body)
    assert shown == {
        journey: [name for name, _ in pictures] for journey, pictures in JOURNEYS.items()
    }
    missing = [
        name for names in shown.values() for name in names if not (FOLDER / f"{name}.png").is_file()
    ]
    assert missing == []
