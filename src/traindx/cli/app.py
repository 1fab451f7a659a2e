"""The ``traindx`` command. Commands import their heavy parts inside their bodies so ``--help`` stays fast."""

from __future__ import annotations

import sys

import typer

from .. import __version__
from . import diagnose as diagnose_cmd
from . import explain as explain_cmd
from . import plot as plot_cmd
from . import memory as memory_cmd, model as model_cmd
from . import grads as grads_cmd
from . import mcp as mcp_cmd
from . import skill as skill_cmd
from .errors import CliError, fail

app = typer.Typer(
    name="traindx",
    help="Evidence-based debugger for machine-learning training runs: symptoms, ranked root causes with located evidence and calibrated confidence, and fixes.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("diagnose", no_args_is_help=False)(diagnose_cmd.diagnose)
app.command("explain")(explain_cmd.explain)
app.command("plot")(plot_cmd.plot)
app.command("model")(model_cmd.model)
app.command("memory")(memory_cmd.memory)
app.command("grads")(grads_cmd.grads)
app.command("mcp")(mcp_cmd.mcp)
app.add_typer(skill_cmd.app, name="skill")


def _version(value: bool) -> None:
    if value:
        print(f"traindx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """Evidence-based debugger for machine-learning training runs."""


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="traindx", standalone_mode=True)
    except CliError as e:
        fail(str(e))
        sys.exit(e.code)
    except KeyboardInterrupt:
        fail("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
