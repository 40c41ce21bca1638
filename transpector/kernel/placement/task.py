"""A move from the canvas (op ``move_model``) as a task on the kernel's loop, in the shape of the
long tools: ``progress`` (tool ``move_model``) to every client between pieces, ``cancel`` with the
task id puts the model back where it was, and the answer (the new placement, or an ``error``) goes
to the sender. The accepted move reaches every client as a ``changed`` with the new state."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from transpector.errors import TranspectorError
from transpector.kernel.tools.base import Cancelled
from transpector.protocol import messages as m
from transpector.protocol.placement import MOVE_TASK, MoveModel, Placed

if TYPE_CHECKING:
    from transpector.kernel.dispatch import Dispatcher, Reply

log = logging.getLogger("transpector")


async def move_task(hub: Dispatcher, msg: MoveModel, by: str) -> Reply:
    from transpector.kernel.dispatch import Reply, error_reply

    task_id = uuid.uuid4().hex[:8]
    hub._cancel_asked[task_id] = False
    try:
        with hub._acting(by, msg.request_id):
            steps = hub.session.move_steps(msg.device, msg.dtype)
            step = next(steps)
        while True:
            progress = m.Progress(
                task_id=task_id, tool=MOVE_TASK, request_id=msg.request_id, **vars(step)
            )
            hub.broadcast(progress.model_dump_json())
            await asyncio.sleep(0)
            with hub._acting(by, msg.request_id):
                step = steps.throw(Cancelled()) if hub._cancel_asked[task_id] else next(steps)
    except StopIteration as end:
        placed = Placed(request_id=msg.request_id, placement=end.value)
        reply = Reply(placed.model_dump_json(), result=end.value)
    except Cancelled:
        where = hub.session.placement
        text = f"the move was cancelled; the model is on {where.device} as {where.dtype}"
        reply = error_reply("cancelled", text, msg.request_id)
    except TranspectorError as error:
        reply = error_reply("invalid", str(error), msg.request_id)
    except Exception as error:
        log.exception("transpector: moving the model failed")
        reply = error_reply("internal", f"moving the model failed: {error!r}", msg.request_id)
    finally:
        del hub._cancel_asked[task_id]
    if by in hub.clients:
        hub.send(hub.clients[by], reply.body)
    return reply
