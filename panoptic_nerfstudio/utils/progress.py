"""The one progress bar of every command that works through frames or views (segment, convert, eval, export, and
decoding a dataset)."""

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nerfstudio.utils.rich_utils import CONSOLE


def frames_progress(transient: bool = False) -> Progress:
    """Description, bar, done/total, time elapsed and ETA, on nerfstudio's console; ``transient`` bars vanish
    when done (for steps inside a command that prints its own summary)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=CONSOLE,
        transient=transient,
    )
