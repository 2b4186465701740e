"""``ns-panoptic``: the project's own commands, beside nerfstudio's ``ns-train`` / ``ns-eval`` / ``ns-render``."""

from __future__ import annotations

import sys
from typing import Union

import tyro
from typing_extensions import Annotated

from panoptic_nerfstudio.cli.command_errors import CommandError, report_error
from panoptic_nerfstudio.cli.convert_command import Convert
from panoptic_nerfstudio.cli.demo_data_command import DemoData
from panoptic_nerfstudio.cli.eval_command import Eval
from panoptic_nerfstudio.cli.render_command import Render
from panoptic_nerfstudio.cli.export_command import Export
from panoptic_nerfstudio.cli.segment_command import Segment
from panoptic_nerfstudio.cli.validate_command import Validate
from panoptic_nerfstudio.data.panoptic_format import PanopticFormatError

Commands = Union[
    Annotated[DemoData, tyro.conf.subcommand(name="demo-data")],
    Annotated[Segment, tyro.conf.subcommand(name="segment")],
    Annotated[Validate, tyro.conf.subcommand(name="validate")],
    Annotated[Eval, tyro.conf.subcommand(name="eval")],
    Export,
    Render,
    Annotated[Convert, tyro.conf.subcommand(name="convert")],
]


def entrypoint() -> None:
    command = tyro.cli(Commands)
    try:
        code = command.main()
    except (CommandError, PanopticFormatError) as error:
        code = report_error(error)
    sys.exit(code)


if __name__ == "__main__":
    entrypoint()
