from __future__ import annotations

from typing import TYPE_CHECKING

from ..drivers.base import DialogAnswer
from ..journey.parsing import INVALID, Invalid
from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath

ANSWERS = ("accept", "dismiss")


@register
class Dialog(Action[DialogAnswer]):
    """Arms the answer before the step that opens the dialog (a browser answers a
    dialog while the click that opened it is still running). It holds for every later
    dialog of the journey until the next ``dialog:``."""

    name = "dialog"
    summary = ("how to answer the JavaScript dialogs (alert/confirm/prompt) later steps open: accept | dismiss | "
               "{accept: true|false, text: WORDS it must contain, prompt: what to type}")
    schema = {
        "oneOf": [
            {"enum": list(ANSWERS)},
            {
                "type": "object",
                "required": ["accept"],
                "properties": {
                    "accept": {"type": "boolean"},
                    "text": {"type": "string", "minLength": 1,
                             "description": "words the dialog must contain; a dialog without them is dismissed and reported"},
                    "prompt": {"type": "string", "description": "typed into a prompt() before accepting"},
                },
                "additionalProperties": False,
            },
        ]
    }
    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> DialogAnswer | Invalid:
        if not isinstance(value, dict):
            answer = ctx.choice(value, path, ANSWERS)
            return INVALID if answer is INVALID else DialogAnswer(accept=answer == "accept")
        allowed = {"accept": "true to accept (OK), false to dismiss (Cancel)", "text": "words the dialog must contain",
                   "prompt": "what to type into a prompt()"}
        given = ctx.mapping(value, path, allowed, ("accept",))
        if given is INVALID:
            return INVALID
        accept = ctx.boolean(given["accept"], path + ("accept",))
        text = ctx.string(given["text"], path + ("text",)) if "text" in given else None
        prompt = ctx.string(given["prompt"], path + ("prompt",), allow_empty=True) if "prompt" in given else None
        if isinstance(accept, Invalid) or isinstance(text, Invalid) or isinstance(prompt, Invalid):
            return INVALID
        if prompt is not None and accept is False:
            return ctx.error(path + ("prompt",), "a prompt's text is only typed when it is accepted (accept: true)")
        return DialogAnswer(accept=accept, text=text, prompt=prompt)

    async def perform(self, driver: Driver, params: DialogAnswer, ctx: ActionContext) -> None:
        await driver.answer_dialogs(params)

    def describe(self, params: DialogAnswer) -> str:
        what = "accept" if params.accept else "dismiss"
        return f"{what} the next dialogs" + (f" saying {params.text!r}" if params.text else "")
