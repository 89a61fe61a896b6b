"""The providers' admin commands on smsrun's command line: ``smsrun ovh lists ...`` is declared by the
OVHcloud provider (``ProviderSpec.admin``, a typer app of its own) and mounted here from the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer import _click as click  # typer vendors click (typer >= 0.29)


class CommandsAndProviderAdmin(TyperGroup):
    """smsrun's commands, then the providers' admin commands (``ProviderSpec.admin``: ``smsrun ovh ...``),
    mounted from the registry when a command line or the help needs them (the registry costs start-up)."""

    _mounted = False

    def _mount_providers(self) -> None:
        if self._mounted:
            return
        self._mounted = True
        from runner.providers.registry import specs
        from runner.providers.spec import load_target

        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
        names = []
        for spec in specs().values():
            if spec.admin and spec.name not in self.commands:  # a provider never hides a command
                holder.add_typer(load_target(spec.admin), name=spec.name)  # rendered as smsrun's own help
                names.append(spec.name)
        if names:
            group = typer.main.get_command(holder)
            assert isinstance(group, TyperGroup)
            for name in names:
                self.add_command(group.commands[name], name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._mount_providers()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._mount_providers()
        return super().get_command(ctx, cmd_name)
