"""A CUDA memory snapshot (``torch.cuda.memory._snapshot()``) as one self-contained HTML page:
per device, the allocated bytes over the recorded history (an SVG drawn here, out-of-memory
events marked), the largest live allocations with where they were made, and torch's own text
summary of the allocator's segments (``torch.cuda._memory_viz.segsum``). Nothing is fetched: torch's
interactive viz imports its script from the network, so it is not used here; the pickle that
``session.memory_snapshot(path)`` writes opens in it where there is a network."""

from __future__ import annotations

import html
from typing import Any

WIDTH, HEIGHT = 720, 180


def allocated_over_time(snapshot: dict[str, Any], device: int) -> list[int]:
    """Allocated bytes after each recorded event of ``device``, ending at what is allocated now
    (the history may start after the first allocations: the curve starts from the difference)."""
    events = snapshot["device_traces"][device] if device < len(snapshot["device_traces"]) else []
    deltas = []
    for event in events:
        size = int(event.get("size", 0))
        deltas.append({"alloc": size, "free_completed": -size}.get(str(event.get("action")), 0))
    now = sum(  # the blocks' sizes as allocated, as the events count them
        int(block["size"])
        for seg in snapshot["segments"]
        if seg.get("device", 0) == device
        for block in seg["blocks"]
        if block["state"] == "active_allocated"
    )
    level = now - sum(deltas)
    curve = [level]
    for delta in deltas:
        level += delta
        curve.append(level)
    return curve


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _timeline(curve: list[int], ooms: list[int], device: int) -> str:
    peak = max(max(curve), 1)
    n = max(len(curve) - 1, 1)
    points = " ".join(
        f"{i * WIDTH / n:.1f},{HEIGHT - v * (HEIGHT - 10) / peak:.1f}" for i, v in enumerate(curve)
    )
    marks = "".join(
        f'<line class="oom" x1="{(i + 1) * WIDTH / n:.1f}" x2="{(i + 1) * WIDTH / n:.1f}" y1="0" '
        f'y2="{HEIGHT}" stroke="#d62728"><title>out of memory</title></line>'
        for i in ooms
    )
    return (
        f'<svg class="memory-timeline" data-device="{device}" data-peak="{peak}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fafafa" stroke="#ccc"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/>'
        f"{marks}</svg>"
    )


def _largest(snapshot: dict[str, Any], device: int, count: int = 20) -> str:
    blocks = [
        block
        for seg in snapshot["segments"]
        if seg.get("device", 0) == device
        for block in seg["blocks"]
        if block["state"] == "active_allocated"
    ]
    blocks.sort(key=lambda b: -int(b.get("requested_size", b["size"])))
    rows = []
    for block in blocks[:count]:
        frames = block.get("frames") or []
        made = next((f for f in frames if "torch" not in str(f.get("filename", ""))), None)
        where = f"{made['filename']}:{made['line']} {made['name']}" if made else ""
        size = size_text(int(block.get("requested_size", block["size"])))
        rows.append(f"<tr><td>{size}</td><td>{html.escape(where)}</td></tr>")
    return "<table><tr><th>size</th><th>made at</th></tr>" + "".join(rows) + "</table>"


def _segsum(snapshot: dict[str, Any]) -> str:
    from torch.cuda import _memory_viz

    try:
        return str(_memory_viz.segsum(snapshot))
    except Exception as error:  # an unusual snapshot: the page still draws the rest
        return f"(no segment summary: {error!r})"


def render(snapshot: dict[str, Any], title: str = "") -> str:
    devices = sorted(
        {int(seg.get("device", 0)) for seg in snapshot["segments"]}
        | {i for i, trace in enumerate(snapshot.get("device_traces", [])) if trace}
    )
    parts = []
    for device in devices:
        curve = allocated_over_time(snapshot, device)
        trace = snapshot["device_traces"][device] if device < len(snapshot["device_traces"]) else []
        ooms = [i for i, e in enumerate(trace) if e.get("action") == "oom"]
        parts.append(
            f"<section><h2>cuda:{device}</h2><p>{len(curve) - 1} recorded events; allocated now "
            f"<b class='now'>{size_text(curve[-1])}</b>, peak <b class='peak'>"
            f"{size_text(max(curve))}</b>; out-of-memory events: {len(ooms)}</p>"
            f"{_timeline(curve, ooms, device)}<h3>Largest live allocations</h3>"
            f"{_largest(snapshot, device)}</section>"
        )
    if not devices:
        parts.append("<p>No CUDA memory is allocated and no history was recorded.</p>")
    heading = html.escape(f"CUDA memory{' — ' + title if title else ''}")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{heading}</title><style>body{{font:14px sans-serif;margin:16px}}"
        "td,th{padding:2px 8px;text-align:left}pre{font-size:12px}</style></head><body>"
        f"<h1>{heading}</h1>{''.join(parts)}<h2>Segments</h2>"
        f"<pre class='segsum'>{html.escape(_segsum(snapshot))}</pre></body></html>"
    )
