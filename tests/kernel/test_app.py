"""The kernel app inside a real kernel: secret, REST, websocket sync, bad frames, interrupts."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.helpers import parse_frame, receive_until
from tests.live_kernel import ATTACH_TINY, LiveKernel, live_kernel
from transpector.kernel.tools import TOOLS, Tool


@pytest.fixture(scope="module")
def attached_kernel() -> Iterator[LiveKernel]:
    with live_kernel() as k:
        k.execute(ATTACH_TINY)
        yield k


@pytest.fixture
def kernel(attached_kernel: LiveKernel, tmp_path: Path) -> Iterator[LiveKernel]:
    """The module's kernel; the session state (prompts, interventions, notes) and the attached
    model it had are put back after the test, pass or fail."""
    saved = str(tmp_path / "session-before.json")
    attached_kernel.execute(f"session.save({saved!r})")
    try:
        yield attached_kernel
    finally:
        attached_kernel.execute(f"transpector.attach(model).load({saved!r})")


def auth(kernel: LiveKernel) -> dict[str, str]:
    return {"X-Transpector-Token": kernel.sidecar()["token"]}


def connect(kernel: LiveKernel, **kwargs: Any) -> Any:
    url = kernel.sidecar()["url"].replace("http", "ws") + "/ws"
    return ws_connect(url, additional_headers=auth(kernel), **kwargs)


def test_attach_writes_a_private_sidecar_and_is_idempotent(kernel: LiveKernel) -> None:
    sidecar = kernel.sidecar()
    assert stat.S_IMODE(Path(sidecar["path"]).stat().st_mode) == 0o600
    assert sidecar["url"].startswith("http://127.0.0.1:")
    assert sidecar["kernel_id"] == kernel.kernel_id
    kernel.execute("assert transpector.attach(model) is session")
    assert kernel.sidecar()["url"] == sidecar["url"]


def test_every_request_needs_the_secret(kernel: LiveKernel) -> None:
    url = kernel.sidecar()["url"]
    assert httpx.get(f"{url}/api/graph").status_code == 403
    assert (
        httpx.get(f"{url}/api/graph", headers={"X-Transpector-Token": "wrong"}).status_code == 403
    )
    graph = httpx.get(f"{url}/api/graph", headers=auth(kernel)).json()
    assert graph["n_layers"] == 2 and graph["n_heads"] == 4


def test_websocket_without_the_secret_is_refused(kernel: LiveKernel) -> None:
    url = kernel.sidecar()["url"].replace("http", "ws") + "/ws"
    with pytest.raises(InvalidStatus), ws_connect(url):
        pass


def test_set_prompt_round_trip_and_a_cell_change_both_reach_the_client(
    kernel: LiveKernel,
) -> None:
    with connect(kernel) as ws:
        hello = receive_until(ws, "state")
        ws.send(json.dumps({"op": "set_prompt", "prompt": "hi there", "request_id": "r1"}))
        changed = receive_until(ws, "changed")
        assert changed["version"] == hello["version"] + 1
        assert changed["by"] == hello["client_id"] and changed["request_id"] == "r1"
        summary = receive_until(ws, "run_summary")
        assert summary["prompt"] == "hi there" and len(summary["top_k"]) == len(summary["tokens"])
        kernel.execute("session.ablate('L1.H2')")
        from_cell = receive_until(ws, "changed")
        assert from_cell["by"] == "python"
        assert from_cell["state"]["interventions"][0]["node"] == "L1.H2"
        kernel.execute("session.clear()")


def test_bad_frames_get_errors_and_the_connection_and_state_stay(kernel: LiveKernel) -> None:
    with connect(kernel, max_size=None) as ws:
        hello = receive_until(ws, "state")
        bad = [
            ("{not json", "bad_request"),
            (json.dumps({"op": "explode", "request_id": "u"}), "unknown_op"),
            (json.dumps({"op": "set_prompt", "prompt": "x" * 5000}), "invalid"),
            (
                json.dumps(
                    {
                        "op": "add_intervention",
                        "intervention": {"kind": "ablate", "id": "", "node": "L9.H9"},
                    }
                ),
                "invalid",
            ),
            ("x" * (2 << 20), "too_large"),
            ("\u00e9" * 600_000, "too_large"),  # 600,000 characters, 1.2 MB of UTF-8
        ]
        for frame, code in bad:
            ws.send(frame)
            error = receive_until(ws, "error")
            assert error["code"] == code, error
        ws.send(json.dumps({"op": "ping", "request_id": "p"}))
        assert (receive_until(ws, "pong"))["request_id"] == "p"
    state = httpx.get(kernel.sidecar()["url"] + "/api/state", headers=auth(kernel)).json()
    assert state["version"] == hello["version"]


def test_node_data_arrives_as_a_binary_frame(kernel: LiveKernel) -> None:
    expected = json.loads(kernel.execute("print(session.node_data('L1.H2').tolist())"))
    with connect(kernel) as ws:
        receive_until(ws, "state")
        for dtype in ("float32", "float16"):
            ws.send(json.dumps({"op": "node_data", "node": "L1.H2", "dtype": dtype}))
            frame = ws.recv(timeout=30)
            while isinstance(frame, str):
                frame = ws.recv(timeout=30)
            parsed = parse_frame(frame)
            header = parsed.header
            assert parsed.data_offset % 8 == 0
            import numpy as np

            values = np.frombuffer(parsed.data, dtype="<f4" if dtype == "float32" else "<f2")
            assert header["shape"] == [len(expected), len(expected)]
            assert header["what"] == "pattern"
            assert np.allclose(values.reshape(header["shape"]), expected, atol=1e-3)


def test_a_lens_cell_top_k_comes_back_and_a_bad_cell_is_an_error(kernel: LiveKernel) -> None:
    code = "print(json.dumps([t.id for t in session.lens_top_k('L1.resid_pre', 2, k=5)]))"
    expected = json.loads(kernel.execute("import json\n" + code))
    with connect(kernel) as ws:
        receive_until(ws, "state")
        cell = {"row": "L1.resid_pre", "position": 2, "k": 5}
        call = {"op": "tool_call", "tool": "lens_top_k", "args": cell}
        ws.send(json.dumps({**call, "request_id": "c"}))
        reply = receive_until(ws, "tool_result", request_id="c")
        assert reply["result"]["position"] == 2
        assert [t["id"] for t in reply["result"]["top_k"]] == expected
        bad = {**call, "args": {**cell, "row": "L1.mlp"}, "request_id": "bad"}
        ws.send(json.dumps(bad))
        error = receive_until(ws, "error")
        assert error["request_id"] == "bad" and "not a logit lens row" in error["message"]
        ws.send(json.dumps({"op": "ping", "request_id": "after"}))
        assert receive_until(ws, "pong")["request_id"] == "after"


def test_an_interrupted_idle_kernel_keeps_serving(kernel: LiveKernel) -> None:
    kernel.manager.interrupt_kernel()
    time.sleep(1)
    response = httpx.get(kernel.sidecar()["url"] + "/api/state", headers=auth(kernel))
    assert response.status_code == 200
    assert kernel.execute("print(1 + 1)").strip() == "2"


def test_batch_run_reports_progress_matches_session_runs_and_can_be_cancelled(
    kernel: LiveKernel,
) -> None:
    prompts = [f"prompt number {i}" for i in range(40)]
    kernel.execute(f"session.prompts = {prompts!r}")
    expected = json.loads(
        kernel.execute(
            "import json\n"
            "rows = [session.run(p, top_k=1, lens=False) for p in session.prompts[:3]]\n"
            "print(json.dumps([sum(r.loss) / len(r.loss) for r in rows]))"
        )
    )
    with connect(kernel) as ws:
        receive_until(ws, "state")
        batch = {"op": "tool_call", "tool": "prompt_batch"}
        ws.send(json.dumps({**batch, "request_id": "b1"}))
        first = receive_until(ws, "progress")
        assert (first["done"], first["total"], first["tool"]) == (0, 40, "prompt_batch")
        ws.send(json.dumps({"op": "cancel", "task_id": first["task_id"]}))
        answer = receive_until(ws, "tool_result", request_id="b1")
        summary = answer["result"]
        assert answer["task_id"] == first["task_id"] and not summary["complete"]
        assert 0 < len(summary["rows"]) < 40
        means = [row["mean_loss"] for row in summary["rows"][:3]]
        assert means == pytest.approx(expected[: len(means)], abs=1e-5)
        ws.send(json.dumps({**batch, "request_id": "b2"}))
        complete = receive_until(ws, "tool_result", timeout=120, request_id="b2")["result"]
        assert complete["complete"] and len(complete["rows"]) == 40
    kernel.execute("session.prompts = ['hello world']")


def test_api_docs_are_served_without_any_cdn(kernel: LiveKernel) -> None:
    url = kernel.sidecar()["url"]
    page = httpx.get(f"{url}/api/docs", headers=auth(kernel))
    assert page.status_code == 200
    assert "docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    bundle = httpx.get(f"{url}/api/docs-assets/swagger-ui-bundle.js", headers=auth(kernel))
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    spec = httpx.get(f"{url}/api/openapi.json", headers=auth(kernel)).json()
    assert {"/api/graph", "/api/ops", "/api/run", "/api/nodes/{node_id}/data"} <= set(spec["paths"])
    run_answer = spec["paths"]["/api/run"]["post"]["responses"]["200"]["content"]
    assert run_answer["application/json"]["schema"] == {"$ref": "#/components/schemas/RunSummary"}


def test_two_clients_with_200_interleaved_ops_each_converge(kernel: LiveKernel) -> None:
    with connect(kernel) as first, connect(kernel) as second:
        start = receive_until(first, "state")["version"]
        receive_until(second, "state")
        for i in range(200):
            for name, ws in (("a", first), ("b", second)):
                op = {"op": "set_note", "node": f"L{i % 2}.H{i % 4}", "text": f"{name}{i}"}
                ws.send(json.dumps({**op, "request_id": f"{name}{i}"}))
        seen: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
        for name, ws in (("a", first), ("b", second)):
            while len(seen[name]) < 400:
                seen[name].append(receive_until(ws, "changed"))
        for name in seen:
            versions = [c["version"] for c in seen[name]]
            assert versions == list(range(start + 1, start + 401)), "an op was lost or reordered"
            assert sorted(c["request_id"] for c in seen[name]) == sorted(
                [f"a{i}" for i in range(200)] + [f"b{i}" for i in range(200)]
            )
        assert seen["a"][-1]["state"] == seen["b"][-1]["state"]
    state = httpx.get(kernel.sidecar()["url"] + "/api/state", headers=auth(kernel)).json()
    assert state["version"] == start + 400
    assert state["state"]["notes"] == seen["a"][-1]["state"]["notes"]


def test_a_burst_of_prompt_edits_coalesces_into_runs_of_the_latest_prompt(
    kernel: LiveKernel,
) -> None:
    prompts = [f"typing {'x' * i}" for i in range(1, 21)]
    with connect(kernel) as ws:
        receive_until(ws, "state")
        receive_until(ws, "run_summary")  # the run every new client gets
        for prompt in prompts:
            ws.send(json.dumps({"op": "set_prompt", "prompt": prompt}))
        runs = [receive_until(ws, "run_summary")["prompt"]]
        while runs[-1] != prompts[-1]:
            runs.append(receive_until(ws, "run_summary")["prompt"])
    assert len(runs) < 5, runs
    assert [prompts.index(p) for p in runs] == sorted(prompts.index(p) for p in runs)


def test_attaching_another_model_switches_what_clients_see(kernel: LiveKernel) -> None:
    url = kernel.sidecar()["url"]
    with connect(kernel) as ws:
        receive_until(ws, "state")
        kernel.execute(
            "other = boot_tiny(Path(tempfile.mkdtemp()), n_layers=3)\n"
            "other_session = transpector.attach(other)\n"
            "other_session.prompt = 'the other model'"
        )
        hello = receive_until(ws, "state")
        assert hello["state"]["prompts"] == ["The capital of France is"]
        changed = receive_until(ws, "changed")
        assert changed["state"]["prompts"] == ["the other model"]
        graph = httpx.get(f"{url}/api/graph", headers=auth(kernel)).json()
        assert graph["n_layers"] == 3
        assert kernel.sidecar()["url"] == url
    kernel.execute("transpector.attach(model)")
    assert httpx.get(f"{url}/api/graph", headers=auth(kernel)).json()["n_layers"] == 2


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_every_tool_route_needs_the_secret_and_answers_its_result(
    kernel: LiveKernel, tool: Tool
) -> None:
    url = f"{kernel.sidecar()['url']}/api/tools/{tool.name}"
    example = tool.contract.example
    assert httpx.post(url, json=example).status_code == 403
    answer = httpx.post(url, json=example, headers=auth(kernel), timeout=60)
    assert answer.status_code == 200, answer.text
    tool.contract.result.model_validate(answer.json())
    bad = httpx.post(url, json={**example, "not_an_arg": 1}, headers=auth(kernel))
    assert bad.status_code == 422


def test_a_tool_call_with_bad_args_is_an_error_and_the_state_stays(kernel: LiveKernel) -> None:
    with connect(kernel) as ws:
        version = receive_until(ws, "state")["version"]
        call = {"op": "tool_call", "tool": "lens_top_k", "args": {"row": "L0.resid_pre"}}
        ws.send(json.dumps({**call, "request_id": "x"}))
        error = receive_until(ws, "error", request_id="x")
        assert "lens_top_k: position: Field required" in error["message"]
        ws.send(json.dumps({**call, "tool": "nope", "request_id": "y"}))
        assert "unknown tool 'nope'" in receive_until(ws, "error", request_id="y")["message"]
        ws.send(json.dumps({"op": "ping", "request_id": "after"}))
        assert receive_until(ws, "pong")["request_id"] == "after"
    state = httpx.get(kernel.sidecar()["url"] + "/api/state", headers=auth(kernel)).json()
    assert state["version"] == version


def test_ops_run_answers_the_summary_and_the_lens_follows(kernel: LiveKernel) -> None:
    with connect(kernel) as ws:
        receive_until(ws, "state")
        response = httpx.post(
            kernel.sidecar()["url"] + "/api/ops",
            json={"op": "run", "top_k": 3, "request_id": "r"},
            headers=auth(kernel),
            timeout=60,
        )
        summary = response.json()
        assert response.status_code == 200 and summary["op"] == "run_summary"
        assert len(summary["top_k"][-1]) == 3 and summary["request_id"] == "r"
        lens = receive_until(ws, "tool_result")
        assert lens["tool"] == "logit_lens" and lens["version"] == summary["version"]
        assert lens["result"]["positions"] == list(range(len(summary["tokens"])))


def test_a_change_sends_the_outputs_first_and_the_lens_after(kernel: LiveKernel) -> None:
    with connect(kernel) as ws:
        receive_until(ws, "state")
        ws.send(json.dumps({"op": "set_prompt", "prompt": "lens after outputs", "request_id": "p"}))
        version = receive_until(ws, "changed", request_id="p")["version"]
        order = []
        while len(order) < 2:
            message = json.loads(ws.recv(timeout=30))
            if message.get("version") == version and message["op"] != "changed":
                order.append((message["op"], message.get("tool")))
        assert order == [("run_summary", None), ("tool_result", "logit_lens")]


BAD_FRAMES = [
    ('{"op":"set_prompt","prompt":"bad \\ud800 text"}', "lone surrogate '\\ud800' at"),
    ('{"op":"set_reference","prompts":["a \\udfff"]}', "lone surrogate"),
    ('{"op":"set_prompt","prompt":"' + "x" * 100_000 + '"}', "takes at most 64"),
    (
        '{"op":"add_intervention","intervention":{"kind":"ablate","node":"L0.H1",'
        '"positions":[12345678901234567890123]}}',
        "out of range for",
    ),
    (
        '{"op":"add_intervention","intervention":{"kind":"ablate","node":"L0.H1",'
        '"seed":12345678901234567890123}}',
        "seed: Input should be less than or equal to",
    ),
    ('{"op":"select_prompt","index":12345678901234567890123}', "no prompt"),
    ('{"op":"set_note","node":"L0.H1","text":"\\udfff"}', "valid string"),
]


def test_bad_input_over_the_websocket_is_one_plain_sentence(kernel: LiveKernel) -> None:
    with connect(kernel) as ws:
        version = receive_until(ws, "state")["version"]
        for n, (frame, needle) in enumerate(BAD_FRAMES):
            ws.send(frame[:-1] + f',"request_id":"b{n}"' + "}")
            error = receive_until(ws, "error", request_id=f"b{n}")
            assert error["code"] == "invalid" and needle in error["message"], error
            assert "failed" not in error["message"] and "Error" not in error["message"]
        ws.send(json.dumps({"op": "set_prompt", "prompt": "nul \u0000 byte", "request_id": "nul"}))
        assert receive_until(ws, "changed", request_id="nul")["state"]["prompts"][0].endswith(
            "byte"
        )
        ws.send(json.dumps({"op": "ping", "request_id": "after"}))
        assert receive_until(ws, "pong")["request_id"] == "after"
    state = httpx.get(kernel.sidecar()["url"] + "/api/state", headers=auth(kernel)).json()
    assert state["version"] == version + 1  # only the NUL prompt was accepted


def test_info_reports_the_caches_and_their_budget(kernel: LiveKernel) -> None:
    url = kernel.sidecar()["url"]
    kernel.execute("session.set_cache_budget(1)")
    info = httpx.get(f"{url}/api/info", headers=auth(kernel)).json()
    assert info["protocol_version"] == 1 and info["model_name"]
    (activations,) = info["caches"]
    assert activations["name"] == "source activations"
    assert activations["budget_bytes"] == 1 << 20
    assert 0 <= activations["bytes"] <= activations["budget_bytes"]
    assert httpx.get(f"{url}/api/info").status_code == 403


def test_every_error_has_the_one_shape_and_the_api_docs_say_so(kernel: LiveKernel) -> None:
    url = kernel.sidecar()["url"]
    json_body = {**auth(kernel), "Content-Type": "application/json"}
    answers = [
        (httpx.post(f"{url}/api/ops", content="{not json", headers=json_body), 422, "invalid"),
        (httpx.post(f"{url}/api/run", json={"bogus": 1}, headers=auth(kernel)), 422, "invalid"),
        (httpx.get(f"{url}/api/nope", headers=auth(kernel)), 404, "not_found"),
        (httpx.get(f"{url}/api/ops", headers=auth(kernel)), 405, "bad_request"),
        (httpx.get(f"{url}/api/graph"), 403, "forbidden"),
        (
            httpx.post(f"{url}/api/tools/top_k", json={"k": -1}, headers=auth(kernel)),
            422,
            "invalid",
        ),
    ]
    for answer, status, code in answers:
        body = answer.json()
        assert answer.status_code == status, (answer.status_code, body)
        assert set(body) == {"op", "v", "code", "message", "request_id"}, body
        assert (body["op"], body["code"]) == ("error", code) and body["message"], body
    assert "bogus" in answers[1][0].json()["message"]
    assert answers[3][0].headers["allow"] == "POST"
    schema = httpx.get(f"{url}/api/openapi.json", headers=auth(kernel)).json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    invalid = schema["paths"]["/api/run"]["post"]["responses"]["422"]
    assert invalid["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorMessage")


def test_the_openapi_document_says_what_the_app_refuses(kernel: LiveKernel) -> None:
    """Found by schema fuzzing (tests/reliability/test_fuzz.py): a 400 the document did not list,
    a tagged union's tag documented as optional yet required, and a seed bound written as a float
    one above what the app takes."""
    from transpector.protocol.interventions import MAX_SEED

    url = kernel.sidecar()["url"]
    spec = httpx.get(f"{url}/api/openapi.json", headers=auth(kernel)).json()
    json_body = {**auth(kernel), "Content-Type": "application/json"}

    not_utf8 = httpx.post(f"{url}/api/run", content=b"[\xdc", headers=json_body)
    assert not_utf8.status_code == 400 and not_utf8.json()["op"] == "error"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "422" in operation["responses"]:
                answer = operation["responses"]["400"]["content"]["application/json"]["schema"]
                assert answer["$ref"].endswith("/ErrorMessage"), (method, path)

    untagged = httpx.post(f"{url}/api/ops", json={"prompt": "no op"}, headers=auth(kernel))
    assert untagged.status_code == 422
    ops = spec["paths"]["/api/ops"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert ops["discriminator"]["propertyName"] == "op"
    assert all(member["required"] == ["op"] for member in ops["oneOf"])
    metric = spec["components"]["schemas"]["MetricArgs"]["properties"]["metric"]["anyOf"][0]
    assert all(member["required"] == ["kind"] for member in metric["oneOf"])
    # POST /api/run takes Run alone: there the tag stays optional, as the app takes {}.
    assert "op" not in spec["components"]["schemas"]["Run"].get("required", [])
    assert httpx.post(f"{url}/api/run", json={}, headers=auth(kernel)).status_code == 200

    seed = spec["components"]["schemas"]["QkPositionsArgs"]["properties"]["seed"]
    assert seed["maximum"] == MAX_SEED and float(MAX_SEED) == MAX_SEED  # exact as a float
    too_big = {"seed": MAX_SEED + 1, "samples": 1}
    answer = httpx.post(f"{url}/api/tools/qk_positions", json=too_big, headers=auth(kernel))
    assert answer.status_code == 422 and "seed" in answer.json()["message"]
