"""The table ``ns-panoptic eval`` prints: merges and splits, and those of pairs the masks keep apart, in its caption."""

from panoptic_nerfstudio.cli.eval_command import results_table
from panoptic_nerfstudio.evaluation.instance_errors import InstanceErrors
from panoptic_nerfstudio.evaluation.scene_evaluation import SceneEvaluation


def _evaluation(errors):
    return SceneEvaluation(frames=3, lifted_pq=None, input_pq=None, lifted_miou=0.0, input_miou=0.0, psnr=25.0,
                           instance_errors=errors)  # fmt: skip


def test_the_caption_names_merges_splits_and_those_the_masks_keep_apart():
    caption = results_table(_evaluation(InstanceErrors(15, 8, 3, 4))).caption
    assert "of 15 ground-truth objects, 8 merged with another and 3 split" in caption
    assert "(4 of the merged in pairs the 2D input masks keep apart)" in caption
    assert "keep apart" not in results_table(_evaluation(InstanceErrors(15, 8, 3))).caption  # no input to count by


def test_the_authors_protocol_has_rows_of_its_own_when_scored():
    from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticQualityResult, QualityScores

    scores = QualityScores(70.0, 80.0, 87.5, 3)
    evaluation = _evaluation(None)
    rows = lambda table: list(table.columns[0].cells)  # noqa: E731
    assert rows(results_table(evaluation)) == []
    evaluation.lifted_pq = evaluation.lifted_pq_authors = PanopticQualityResult(scores, scores, scores)
    assert rows(results_table(evaluation)) == ["lifted (ours)", "lifted, authors' protocol"]
