"""Command line: ``stepladder simulate``, ``grade``, ``anchors``, ``estimate`` and ``report``.

One module per command; this one holds the group and the entry point. Bad input ends with a
one-line ``error: ...`` on stderr and exit code 2; outputs are checked before the work and
written atomically at the end, so a failed run leaves no partial file behind.
"""

from __future__ import annotations

import importlib
import sys

import click

from stepladder import __version__
from stepladder.cli._common import InputError

__all__ = ["cli", "main"]

#: Command name -> the module that defines it (the function has the command's name).
COMMANDS = {
    "anchors": "stepladder.cli.evaluate",
    "estimate": "stepladder.cli.evaluate",
    "grade": "stepladder.cli.grade",
    "report": "stepladder.cli.report",
    "simulate": "stepladder.cli.simulate",
}


class _LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs (or help lists
    it), so ``stepladder grade`` loads neither the strategies nor the simulator."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(COMMANDS[cmd_name])
            self.add_command(getattr(module, cmd_name))
        return self.commands.get(cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stepladder")
def cli() -> None:
    """stepladder: decide what a model should learn next."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning usage and input errors into one line and exit code 2."""
    if not (sys.argv[1:] if argv is None else argv):
        click.echo(cli.get_help(click.Context(cli, info_name="stepladder")))
        return 0
    try:
        cli.main(args=argv, prog_name="stepladder", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as error:
        message = error.format_message().replace("\n", " ")
        click.echo(f"error: {message}", err=True)
        return 2 if isinstance(error, click.UsageError | InputError) else error.exit_code
    except (ValueError, OSError) as error:
        click.echo(f"error: {error}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
