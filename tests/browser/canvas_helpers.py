"""Helpers the canvas's browser tests share: they drive JupyterLab and read the canvas."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import Lab, palette

CANVAS = ".jp-TranspectorCanvas .jp-Transpector-canvas"  # the main-area canvas, not a widget


# ---- helpers ------------------------------------------------------------------------------------
# The starter's session keeps its state (in the kernel, and in a file beside the notebook), so a
# test that runs the starter again starts from what the last test left: set it back.
FRESH_STATE = """session.clear()
session.reference_prompts = []
session.pairs = []
session.set_metric("top_prob")
session.prompts = [prompt]"""


def run_starter(lab: Lab, page: Page, timeout: float = 180_000) -> None:
    """Open the starter notebook, run all its cells, and give the session a fresh state."""
    page.goto(lab.url)
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    lab.wait_for_idle_kernel()
    page.locator(".jp-Toolbar-kernelName", has_text="Python 3").wait_for(timeout=30_000)
    run_all_cells(page)
    page.locator(".jp-OutputArea-output", has_text="logit lens, last position").wait_for(
        timeout=timeout
    )
    run_new_cell(page, FRESH_STATE)
    ran = page.locator(".jp-NotebookPanel .jp-Cell").nth(-2).locator(".jp-InputArea-prompt")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", ran.inner_text().strip()) is not None, 60, "reset")


def run_all_cells(page: Page) -> None:
    """*Run All Cells* from the palette, again if the cells did not start (a palette that
    closes early sends its Enter to the notebook instead)."""
    started = page.locator(".jp-NotebookPanel .jp-InputArea-prompt", has_text="*")
    for _ in range(3):
        page.keyboard.press("Escape")
        palette(page, "Run All Cells")
        try:
            started.first.wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            print("run_all_cells: Run All Cells did not start the cells, trying again")
    raise AssertionError("Run All Cells did not start the cells, 3 times")


def open_canvas(page: Page, via: str = "palette") -> Any:
    """Open the canvas of the notebook's kernel from the palette or the notebook toolbar."""
    canvas = page.locator(f"{CANVAS}[data-connection='live']")
    for _ in range(3):
        if via == "palette":
            palette(page, "Transpector: Open Canvas")
        else:
            page.locator(
                ".jp-NotebookPanel-toolbar [data-jp-item-name='transpector'] button"
            ).click()
        try:
            canvas.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            print(f"open_canvas via {via}: no live canvas after 15 s, trying again")
    canvas.wait_for(timeout=15_000)
    page.locator(".jp-Transpector-topk-item").first.wait_for(timeout=30_000)
    return canvas


def tokens(page: Page) -> list[str]:
    """The token chips' texts, read in one go (React re-renders them while we read)."""
    return list(
        page.eval_on_selector_all(".jp-Transpector-token", "els => els.map(e => e.dataset.token)")
    )


def top_k(page: Page) -> list[tuple[str, str]]:
    rows = page.eval_on_selector_all(
        ".jp-Transpector-topk-item", "els => els.map(e => [e.dataset.token, e.dataset.prob])"
    )
    return [(str(token), str(prob)) for token, prob in rows]


def lens_caught_up(page: Page) -> None:
    """Wait until the logit lens shows the latest run (it is drawn a frame after the outputs)."""
    page.wait_for_function(
        """() => {
          const canvas = document.querySelector('.jp-TranspectorCanvas .jp-Transpector-canvas');
          const lens = canvas && canvas.querySelector('.jp-Transpector-lens');
          return lens !== null && lens.dataset.runVersion === canvas.dataset.runVersion;
        }""",
        timeout=10_000,
    )


def wait_until(predicate: Any, timeout: float, what: str) -> float:
    """Poll `predicate` (Python side) until true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout} s")


def type_prompt(page: Page, text: str) -> None:
    """Type `text` into the prompt box, again if keystrokes went elsewhere (JupyterLab can move
    the focus to the notebook when its cells finish)."""
    box = page.locator(".jp-Transpector-prompt")
    for _ in range(3):
        box.click()
        box.press("Control+a")
        box.press_sequentially(text, delay=15)
        if box.input_value() == text:
            return
        print(f"type_prompt: the box holds {box.input_value()!r}, typing {text!r} again")
    assert box.input_value() == text


def run_new_cell(page: Page, code: str, paste: bool = False) -> Any:
    """Append a cell to the notebook, run it, and return its output locator. The code is typed,
    or with ``paste`` inserted whole (the editor then indents nothing by itself: for blocks)."""
    notebook = page.locator(".jp-NotebookPanel").first
    notebook.locator(".jp-Cell").last.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    if paste:
        page.keyboard.insert_text(code)
    else:
        page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    return notebook.locator(".jp-Cell").nth(-2).locator(".jp-OutputArea-output")


def rendered_head(page: Page, layer: int, head: int) -> Any:
    return page.locator(f".jp-Transpector-node[data-node-id='L{layer}.H{head}']")


def drag(page: Page, start: Any, end: Any, release: bool = True) -> None:
    """Press the mouse on `start`'s centre, move onto `end`'s in steps, release unless told."""

    def centre(locator: Any) -> tuple[float, float]:
        box = locator.bounding_box()
        assert box is not None, f"{locator} is not on screen"
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    page.mouse.move(*centre(start))
    page.mouse.down()
    page.mouse.move(*centre(end), steps=12)
    if release:
        page.mouse.up()


def cell_json(page: Page, code: str) -> Any:
    """Run `code` (which prints one JSON line) in a new cell; its parsed output (stdout: a
    progress bar goes to stderr)."""
    output = run_new_cell(page, "import json\n" + code)
    printed = output.and_(page.locator("[data-mime-type='application/vnd.jupyter.stdout']"))
    printed.wait_for(timeout=30_000)
    return json.loads(printed.inner_text())


def listed_edges_match(page: Page, card: Any, call: str) -> list[list[Any]]:
    """The edges ``card`` lists (its first rows, largest first) equal the first edges of the
    tool ``call`` made in a cell (e.g. ``session.tools.head_composition(kind='K')``), compared
    as (from, to) and score; returns the cell's ``[[from, to, score], ...]``."""
    listed = card.locator(".jp-Transpector-edges li")
    listed.first.wait_for(timeout=30_000)
    expected: list[list[Any]] = cell_json(
        page,
        f"r = {call}\nprint(json.dumps([[e.from_node, e.to_node, e.score] for e in r.edges]))",
    )
    rows = listed.evaluate_all(
        "els => els.map(e => [e.dataset.from, e.dataset.to, Number(e.dataset.score)])"
    )
    shown = expected[: len(rows)]
    assert rows and [r[:2] for r in rows] == [e[:2] for e in shown]
    scores = [r[2] for r in rows]
    assert all(abs(a - b[2]) <= 1e-9 for a, b in zip(scores, shown, strict=True)), (scores, shown)
    return expected


STARTER_STATE = "transpector-start.state.json"
ATTACH_AGAIN = (
    "import transpector\nmodel = transpector.load_model()\n"
    f'session = transpector.attach(model, state_file="{STARTER_STATE}")'
)


def restart_kernel(lab: Lab, page: Page, canvas_open: bool = True) -> None:
    """Restart the notebook's kernel from the palette and wait until it is idle (with the
    canvas open: until the canvas says the kernel has no session)."""
    palette(page, "Restart Kernel…")
    page.locator(".jp-Dialog button", has_text="Restart").click()
    if canvas_open:
        page.locator(f"{CANVAS}[data-connection='no_session']").wait_for(timeout=60_000)
    lab.wait_for_idle_kernel()


def attach_again(lab: Lab, page: Page, canvas_open: bool = True) -> None:
    """The starter's load and attach, as its cells do (Run All would also run the cells the
    tests added below them, one of which resets the state)."""
    run_new_cell(page, ATTACH_AGAIN)
    if canvas_open:
        page.locator(f"{CANVAS}[data-connection='live']").wait_for(timeout=120_000)
    lab.wait_for_idle_kernel(timeout=120)
