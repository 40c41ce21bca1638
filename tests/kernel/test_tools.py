"""Checks that run over every registered tool: its contract, bad arguments, leaked hooks, and its
results typed by the generated TypeScript. Each tool's numbers are checked in its own tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.typecheck import import_line, rejected_lines
from transpector.errors import TranspectorError
from transpector.kernel.session import Session
from transpector.kernel.tools import TOOLS, Tool
from transpector.protocol.tools import CONTRACTS

NAMES = [tool.name for tool in TOOLS]


def test_the_kernel_registers_exactly_the_protocol_contracts() -> None:
    assert [tool.contract for tool in TOOLS] == CONTRACTS
    assert len(set(NAMES)) == len(NAMES)
    for tool in TOOLS:
        assert (tool.compute is None) != (tool.steps is None), tool.name
        assert tool.contract.progress == (tool.steps is not None), tool.name
        tool.contract.args.model_validate(tool.contract.example)


@pytest.mark.parametrize("tool", TOOLS, ids=NAMES)
def test_a_tool_leaves_no_hook_and_its_result_round_trips(
    session: Session, tiny_model: Any, tool: Tool
) -> None:
    session.ablate("L0.H1")
    before = session.hooks()
    result = session.call(tool.name, **tool.contract.example)
    assert isinstance(result, tool.contract.result)
    assert session.hooks() == before
    assert tool.contract.result.model_validate_json(result.model_dump_json()) == result
    assert getattr(session.tools, tool.name)(**tool.contract.example) == result


@pytest.mark.parametrize("tool", TOOLS, ids=NAMES)
def test_bad_args_say_what_is_wrong_and_leave_the_state(session: Session, tool: Tool) -> None:
    session.ablate("L0.H1")
    before = session.state.model_dump()
    with pytest.raises(TranspectorError, match=f"{tool.name}: not_an_arg: Extra inputs"):
        session.call(tool.name, **tool.contract.example, not_an_arg=1)
    assert session.state.model_dump() == before


def test_unknown_tools_are_named_in_the_error(session: Session) -> None:
    with pytest.raises(TranspectorError, match="unknown tool 'nope'; tools are top_k"):
        session.call("nope")


def test_results_and_args_type_check_against_the_generated_typescript(
    session: Session, tmp_path: Path
) -> None:
    lines = [import_line(["ToolArgs", "ToolResults"])]
    for tool in TOOLS:
        example = json.dumps(tool.contract.example)
        result = json.dumps(session.call(tool.name, **tool.contract.example).model_dump())
        lines.append(f"export const a{len(lines)}: ToolArgs['{tool.name}'] = {example};")
        lines.append(f"export const r{len(lines)}: ToolResults['{tool.name}'] = {result};")
    bad = {len(lines) + 1, len(lines) + 2}
    lines.append("export const b1: ToolArgs['lens_top_k'] = { row: 3, position: 0 };")
    lines.append("export const b2: ToolResults['loss'] = { loss: ['high'] };")
    assert rejected_lines(lines, tmp_path) == bad


@pytest.mark.parametrize("tool", [t for t in TOOLS if t.steps is not None], ids=lambda t: t.name)
def test_a_long_tool_refuses_prompt_rather_than_dropping_it(session: Session, tool: Tool) -> None:
    version = session.version
    with pytest.raises(TranspectorError, match="takes its prompts in its own arguments"):
        session.call(tool.name, prompt="another prompt")
    assert session.version == version
