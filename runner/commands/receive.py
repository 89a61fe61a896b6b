"""``smsrun receive``: the receiver's configuration, from the command line and the environment.

The secrets a provider's routes need (Twilio's auth token) are declared in its spec
(``ReceiverRoute.secrets``) and read from the environment here; the receiver itself names none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runner.commands.common import state_here

if TYPE_CHECKING:
    from runner.receiver.server import ReceiverConfig


def receiver_config(*, listen: str, public_url: str | None = None, region: str | None = None,
                    state_dir: Path | None = None) -> ReceiverConfig:
    from runner.providers.registry import receiver_secrets
    from runner.receiver.server import ENV_TOKEN, ReceiverConfig, check_public_url, check_token, parse_listen

    host, port = parse_listen(listen)
    return ReceiverConfig(host=host, port=port, token=check_token(os.environ.get(ENV_TOKEN)),
                          state_dir=state_here(state_dir), public_url=check_public_url(public_url),
                          region=region, secrets=receiver_secrets(os.environ))


def unconfigured(config: ReceiverConfig) -> list[tuple[str, str]]:
    """(secret, provider) for each provider whose routes need a secret that is not set: they answer 503."""
    from runner.providers.registry import receiver_routes

    found: dict[tuple[str, str], None] = {}
    for path, route in receiver_routes().items():
        for name in route.secrets:
            if name not in config.secrets:
                found[(name, path[0])] = None
    return list(found)
