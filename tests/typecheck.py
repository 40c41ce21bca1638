"""Type-check TypeScript lines against the generated wire types with the project's own tsc."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "labextension" / "protocol.generated.ts"
TSC = REPO / "node_modules" / ".bin" / "tsc"
TSC_OPTIONS = ["--target", "ES2022", "--module", "esnext", "--moduleResolution", "bundler"]
TSC_OPTIONS += ["--skipLibCheck", "--noUnusedLocals"]


def import_line(names: list[str]) -> str:
    source = GENERATED.with_suffix("")  # import "/.../labextension/protocol.generated"
    return f"import type {{ {', '.join(sorted(names))} }} from '{source.as_posix()}';"


def rejected_lines(lines: list[str], folder: Path) -> set[int]:
    """The 1-based line numbers tsc --strict rejects (every error must be in these lines)."""
    assert TSC.exists() and shutil.which("node"), "node_modules is missing: run `make install`"
    check = folder / "check.ts"
    check.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(
        [str(TSC), "--noEmit", "--strict", "--pretty", "false", *TSC_OPTIONS, str(check)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = re.findall(r"^(\S.*?)\((\d+),\d+\): error (TS\d+)", result.stdout, re.M)
    assert all(Path(file).name == "check.ts" for file, _, _ in errors), result.stdout
    assert (result.returncode != 0) == bool(errors), result.stdout + result.stderr
    return {int(line) for _, line, _ in errors}
