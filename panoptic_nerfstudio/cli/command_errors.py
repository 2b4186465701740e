"""The exit-code convention of every ``ns-panoptic`` command.

``main()`` returns 0 on success and 1 when the input is bad or a step failed; the message
names the file and the problem. (2 stays what tyro returns for a malformed command line.)
A command either prints its own report and returns 1, or raises ``CommandError`` (or a
``PanopticFormatError``), which the entry point prints the same way.
"""

from __future__ import annotations

from nerfstudio.utils.rich_utils import CONSOLE

EXIT_OK = 0
EXIT_FAILURE = 1


class CommandError(ValueError):
    """Bad input to a command; the message says which file or option and what is wrong."""


def report_error(error: BaseException | str) -> int:
    """Print one error the way every command does, and return the failure exit code."""
    CONSOLE.print(f"[bold red]Error:[/bold red] {error}", soft_wrap=True)
    return EXIT_FAILURE
