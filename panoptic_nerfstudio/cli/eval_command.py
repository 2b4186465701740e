"""``ns-panoptic eval``: scene-level panoptic quality of a trained model, next to its 2D input masks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from rich.table import Table

from nerfstudio.utils.eval_utils import eval_setup
from nerfstudio.utils.rich_utils import CONSOLE

from panoptic_nerfstudio.data.panoptic_format import PanopticFrame, SegmentInfo, write_panoptic
from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticFrameLabels
from panoptic_nerfstudio.evaluation.scene_evaluation import SceneEvaluation, evaluate_scene


@dataclass
class Eval:
    """Render the evaluation split, write panoptic predictions and print PQ^scene, mIoU and PSNR."""

    load_config: Path
    """config.yml of a panoptic-lifting training run."""
    output_dir: Path = Path("panoptic_eval")

    def main(self) -> int:
        _, pipeline, checkpoint, _ = eval_setup(self.load_config, test_mode="test")
        model = pipeline.model
        if not hasattr(model, "thing_mask"):
            raise SystemExit(f"{self.load_config} is not a panoptic-lifting model")
        dataset = pipeline.datamanager.eval_dataset
        classes = dataset.classes
        pred_dir = self.output_dir / "pred"
        num_slots = model.config.num_instance_slots

        def write(index: int, frame: Dict) -> None:
            stem = Path(dataset.image_filenames[index]).stem
            write_panoptic(pred_dir / f"{stem}.png", prediction_to_frame(frame["prediction"], classes, num_slots))

        evaluation = evaluate_scene(model, dataset, on_frame=write)
        metrics = {"checkpoint": str(checkpoint), **evaluation.metrics(), "per_category": evaluation.per_category(classes)}
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if evaluation.lifted_pq is None:
            CONSOLE.print("[yellow]No gt_panoptic/ for these frames: only RGB metrics and predictions are reported.")
        CONSOLE.print(results_table(evaluation))
        CONSOLE.print(
            f"{evaluation.dropped_instances} 3D instance(s) under {model.config.min_instance_area:.2%} of the evaluated "
            "pixels were dropped to their most likely stuff class (--pipeline.model.min-instance-area)."
        )
        CONSOLE.print(f"Predictions in {pred_dir}, metrics in {self.output_dir / 'metrics.json'}")
        return 0


def prediction_to_frame(prediction: PanopticFrameLabels, classes, num_slots: int) -> PanopticFrame:
    """Encode a prediction with scene-wide ids: a thing keeps its 3D instance id (1..K), stuff gets K + 1 + class index."""
    dense = {c.id: i for i, c in enumerate(classes.categories)}
    ids = prediction.instance.clone()
    segments = []
    for cid in prediction.category.unique().tolist():
        category = classes.by_id(cid)
        on = prediction.category == cid
        if category.isthing:
            for iid in prediction.instance[on].unique().tolist():
                segments.append(SegmentInfo(int(iid), cid, True, 1.0))
        else:
            sid = num_slots + 1 + dense[cid]
            ids[on] = sid
            segments.append(SegmentInfo(sid, cid, False, 1.0))
    return PanopticFrame(ids=ids.numpy(), segments=segments)


def results_table(evaluation: SceneEvaluation) -> Table:
    table = Table(title=f"Scene-level evaluation ({evaluation.frames} frames)")
    for column in ("", "PQ", "SQ", "RQ", "PQ things", "PQ stuff", "mIoU"):
        table.add_column(column, justify="right")
    for name, pq, miou in (
        ("lifted (ours)", evaluation.lifted_pq, evaluation.lifted_miou),
        ("2D input masks", evaluation.input_pq, evaluation.input_miou),
    ):
        if pq is None:
            continue
        table.add_row(
            name, *(f"{v:.1f}" for v in (pq.all.pq, pq.all.sq, pq.all.rq, pq.things.pq, pq.stuff.pq, miou))
        )
    table.caption = f"PSNR {evaluation.psnr:.2f} dB"
    return table

