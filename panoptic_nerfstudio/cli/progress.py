"""The progress bar of the commands that work through a scene's frames (segment, convert)."""

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nerfstudio.utils.rich_utils import CONSOLE


def frames_progress() -> Progress:
    """Description, bar, done/total, time elapsed and ETA, on nerfstudio's console."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=CONSOLE,
    )
