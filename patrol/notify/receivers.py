"""Receivers ready to send to: the ``receivers`` section of patrol.yaml (checked at
load, see ``patrol.config.receivers``) with ``${VAR}``/``${secret:NAME}`` resolved and
every credential registered with the masker."""

from __future__ import annotations

from ..config import Config
from ..config.receivers import (
    DEFAULT_EVENTS,
    EVENT_NAMES,
    Receiver,
    ReceiverConfig,
    mask_url,
    parse_rate,
    register_url_secrets,
)
from ..secrets import MASKER, MissingVariable, interpolate
from .formats import FORMATS


def load_receivers(config: Config, resolve_secrets: bool = True) -> dict[str, Receiver]:
    """Every receiver of patrol.yaml; problems are ConfigErrors positioned in patrol.yaml.
    With ``resolve_secrets=False`` (listing commands), ``${...}`` stay unexpanded."""
    return {name: _resolve(config, spec, resolve_secrets) for name, spec in config.settings.receivers.items()}


def _resolve(config: Config, spec: ReceiverConfig, resolve_secrets: bool) -> Receiver:
    path = ("receivers", spec.name)

    def expand(key: str, value: str | None) -> str | None:
        if value is None or not resolve_secrets:
            return value
        try:
            return interpolate(value)
        except MissingVariable as e:
            raise config.problem(path + (key,), str(e)) from None

    url = expand("url", spec.url) or spec.url
    if resolve_secrets:
        if not url.startswith(("http://", "https://")):
            raise config.problem(path + ("url",), "expected an http:// or https:// URL")
        register_url_secrets(url)
    secret = expand("secret", spec.secret)
    if secret is not None and resolve_secrets:
        MASKER.add(secret)
        problem = FORMATS[spec.format].check_secret(secret)
        if problem:
            raise config.problem(path + ("secret",), problem)
    return Receiver(**{**vars(spec), "url": url, "secret": secret, "url_template": spec.url})


__all__ = ["DEFAULT_EVENTS", "EVENT_NAMES", "Receiver", "load_receivers", "mask_url", "parse_rate"]
