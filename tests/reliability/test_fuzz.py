"""Schema fuzzing: schemathesis generates requests from the kernel app's OpenAPI document (valid
ones and invalid ones) and sends them through the Jupyter proxy, with Jupyter's token, to a real
kernel's app. Every answer is checked: never a 5xx; every 4xx in the one error shape (``op:
error``, a known code, a message); the status, content type and body as the document says
(schemathesis's checks); afterwards the session state still parses and the kernel still runs.

The default run sends over 1,000 requests with a fixed seed; ``pytest --long`` over 10,000.
The requests go from a worker thread (schemathesis calls are blocking) while the test's loop
serves the Jupyter server.

One difference between the document and the app is tolerated, and counted: pydantic's lax mode
takes a boolean or a numeric string where a number is documented (``"threshold": false`` is 0.0),
and 0, 1 or "yes" where a boolean is. An invalid body the app accepted passes only if it is valid
once every number and boolean in the document also admits those; any other schema-violating
request accepted fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.core.failures import AcceptedNegativeData

from tests.server.conftest import BASE_URL, JSON, Kernel, api
from transpector.protocol import messages as m

SEED = 20260611
# Examples per operation and generation mode (valid, invalid); an operation without input has one.
EXAMPLES = {False: 32, True: 300}
MINIMUM = {False: 1_000, True: 10_000}
PAIR = {"clean": "The cat sat on the", "corrupt": "The dog sat on the"}  # same token count

# Valid data the session may still refuse: 400 ``invalid`` (an unknown node, a prompt longer than
# n_ctx, no clean/corrupt pair), which the schema cannot say. A 422 on valid data is a fault (the
# document and the validation disagree), and so is a 400 with another code (checked below).
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "409"]}}}
)


def lax_scalars(node: Any) -> Any:
    """The document with every number also admitting what pydantic's lax mode coerces to one (a
    boolean, a string), and every boolean likewise (an integer, a string)."""
    if isinstance(node, list):
        return [lax_scalars(item) for item in node]
    if not isinstance(node, dict):
        return node
    widened = {key: lax_scalars(value) for key, value in node.items()}
    coerced = {"number": ["boolean", "string"], "integer": ["boolean", "string"]}
    coerced["boolean"] = ["integer", "string"]
    if isinstance(widened.get("type"), str) and widened["type"] in coerced:
        return {"anyOf": [widened, {"type": coerced[widened["type"]]}]}
    return widened


class LaxBodies:
    """Whether a request body is valid for its operation under ``lax_scalars``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = lax_scalars(document)
        self.validators: dict[str, Any] = {}

    def valid(self, case: Any) -> bool:
        if not isinstance(case.body, (dict, list)):
            return False
        path = case.path.replace("~", "~0").replace("/", "~1")
        pointer = (
            f"#/paths/{path}/{case.method.lower()}/requestBody/content/application~1json/schema"
        )
        if pointer not in self.validators:
            root = {**self.document, "$ref": pointer}
            self.validators[pointer] = jsonschema_rs.Draft202012Validator(root)
        return bool(self.validators[pointer].is_valid(case.body))


@dataclass
class Fuzz:
    """Sends the cases and keeps the tally and every failure (no shrinking: each request
    crosses three processes; a failure is reported with its curl line instead)."""

    base_url: str
    headers: dict[str, str]
    lax: LaxBodies
    http: requests.Session = field(default_factory=requests.Session)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    coerced: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        # Every request counts, those schemathesis's checks send themselves included.
        self.http.hooks["response"].append(self._count)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.statuses[f"{response.status_code // 100}xx"] += 1

    def fail(self, where: str, what: str, detail: str) -> None:
        self.failures.setdefault((where, what), detail)

    def check(self, case: Any, mode: GenerationMode) -> None:
        where = f"{case.method.upper()} {case.path} ({mode.value})"
        sent = {"base_url": self.base_url, "session": self.http, "headers": self.headers}
        response = case.call(**sent, timeout=120)
        try:
            case.validate_response(response, headers=self.headers, transport_kwargs=sent)
        except* Exception as group:
            for failure in group.exceptions:
                if isinstance(failure, AcceptedNegativeData) and self.lax.valid(case):
                    self.coerced[where] += 1
                    continue
                title = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
                self.fail(where, title, group.message)
        status = response.status_code
        if status >= 500:
            self.fail(where, f"{status}", response.text[:500])
        if 400 <= status < 500:
            self._error_shape(where, case, mode, response)

    def _error_shape(self, where: str, case: Any, mode: GenerationMode, response: Any) -> None:
        try:
            error = m.ErrorMessage.model_validate_json(response.content)
        except ValidationError as invalid:
            self.fail(where, f"{response.status_code} not in the error shape", str(invalid))
            return
        if not error.message.strip():
            self.fail(where, "an error without a message", response.text)
        refused = response.status_code == 400 and error.code != "invalid"
        if mode is GenerationMode.POSITIVE and refused:
            detail = f"{response.text}\n{case.as_curl_command()}"
            self.fail(where, f"valid data answered 400 {error.code}", detail)

    def operation(self, operation: Any, mode: GenerationMode, examples: int) -> None:
        strategy = operation.as_strategy(generation_mode=mode)

        @seed(SEED)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def fuzz(case: Any) -> None:
            self.check(case, mode)

        started = time.perf_counter()
        fuzz()
        self.seconds[f"{operation.method.upper()} {operation.path}"] += (
            time.perf_counter() - started
        )

    def run(self, schema: Any, examples: int) -> None:
        for result in schema.get_all_operations():
            operation = result.ok()
            definition = operation.definition.raw
            self.operation(operation, GenerationMode.POSITIVE, examples)
            if definition.get("parameters") or definition.get("requestBody"):
                self.operation(operation, GenerationMode.NEGATIVE, examples)


async def test_fuzz_the_kernel_app_through_the_proxy(
    jp_fetch: Any,
    kernel: Kernel,
    port: int,
    jp_auth_header: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    long = bool(request.config.getoption("--long", default=False))
    ops = api(kernel.id, "ops")
    pairs = json.dumps({"op": "set_pairs", "pairs": [PAIR]})
    await jp_fetch(*ops, method="POST", body=pairs, headers=dict(JSON))
    document = json.loads((await jp_fetch(*api(kernel.id, "openapi.json"))).body)
    schema = schemathesis.openapi.from_dict(document, config=CONFIG)
    base_url = f"http://127.0.0.1:{port}{BASE_URL}transpector/kernels/{kernel.id}"
    fuzz = Fuzz(base_url, dict(jp_auth_header), LaxBodies(document))

    started = time.perf_counter()
    await asyncio.to_thread(fuzz.run, schema, EXAMPLES[long])
    took = time.perf_counter() - started
    total = sum(fuzz.statuses.values())
    print(f"\nschemathesis {schemathesis.__version__}: {total} requests in {took:.1f} s")
    print("  by status class:", dict(sorted(fuzz.statuses.items())))
    slowest = ", ".join(f"{name} {s:.1f} s" for name, s in fuzz.seconds.most_common(5))
    print("  slowest operations:", slowest)
    print(f"  invalid scalars pydantic coerced: {sum(fuzz.coerced.values())}", dict(fuzz.coerced))

    report = "\n\n".join(
        f"{where}: {what}\n{detail}" for (where, what), detail in fuzz.failures.items()
    )
    assert not fuzz.failures, f"{len(fuzz.failures)} distinct failures:\n{report}"
    assert fuzz.statuses["5xx"] == 0
    assert total >= MINIMUM[long], total

    # Afterwards: the state parses as the protocol's StateMessage and a run still answers.
    state = await jp_fetch(*api(kernel.id, "state"))
    m.StateMessage.model_validate_json(state.body)
    run = await jp_fetch(*api(kernel.id, "run"), method="POST", body="{}", headers=dict(JSON))
    assert run.code == 200 and json.loads(run.body)["op"] == "run_summary"
