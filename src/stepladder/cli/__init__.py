"""Command line: ``stepladder simulate``, ``grade``, ``anchors``, ``estimate`` and ``report``.

One module per command; this one holds the group and the entry point. Bad input ends with a
one-line ``error: ...`` on stderr and exit code 2; outputs are checked before the work and
written atomically at the end, so a failed run leaves no partial file behind.
"""

from __future__ import annotations

import sys

import click

from stepladder import __version__
from stepladder.cli._common import InputError
from stepladder.cli.evaluate import anchors, estimate
from stepladder.cli.grade import grade
from stepladder.cli.report import report
from stepladder.cli.simulate import simulate

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stepladder")
def cli() -> None:
    """stepladder: decide what a model should learn next."""


for _command in (simulate, grade, anchors, estimate, report):
    cli.add_command(_command)


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
