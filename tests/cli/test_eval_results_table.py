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


def test_the_caption_counts_the_unmatched_by_cause():
    from panoptic_nerfstudio.evaluation.unmatched_segments import LOST_TO_STUFF, MERGED, ON_STUFF, MatchReport
    from panoptic_nerfstudio.evaluation.unmatched_segments import UnmatchedSegment as Segment

    evaluation = _evaluation(None)
    evaluation.unmatched = MatchReport(
        missed=[Segment(9, 1, 900, LOST_TO_STUFF, 0.3), Segment(9, 2, 50, LOST_TO_STUFF, 0.0),
                Segment(7, 4, 300, MERGED, 0.1)],
        false_instances=[Segment(9, 5, 20, ON_STUFF, 0.0)],
    )  # fmt: skip
    caption = results_table(evaluation).caption
    expected = "unmatched by PQ^scene: 3 object(s) (2 lost to stuff, 1 merged), 1 predicted instance(s) (1 on stuff)"
    assert expected in caption
    assert "partly labelled" not in caption  # causes with no segment are not named


def test_the_largest_unmatched_objects_are_listed_with_their_cause():
    from panoptic_nerfstudio.cli.eval_command import unmatched_objects_table
    from panoptic_nerfstudio.data.panoptic_format import Category, ClassTable
    from panoptic_nerfstudio.evaluation.unmatched_segments import LOST_TO_STUFF, MERGED, MatchReport
    from panoptic_nerfstudio.evaluation.unmatched_segments import UnmatchedSegment as Segment

    classes = ClassTable([Category(1, "wall", False, (1, 1, 1)), Category(9, "pole", True, (2, 2, 2))])
    missed = [Segment(9, 4, 900 - n, LOST_TO_STUFF if n else MERGED, 0.42) for n in range(12)]
    table = unmatched_objects_table(MatchReport(missed=missed, false_instances=[]), classes, limit=3)
    assert table.title.endswith("the largest 3 of 12")
    rows = [[column._cells[i] for column in table.columns] for i in range(table.row_count)]
    assert rows[0] == ["pole", "4", "900", "merged", "0.42"] and rows[2][2:4] == ["898", "lost to stuff"]


def test_the_authors_protocol_has_rows_of_its_own_when_scored():
    from panoptic_nerfstudio.evaluation.panoptic_quality import PanopticQualityResult, QualityScores

    scores = QualityScores(70.0, 80.0, 87.5, 3)
    evaluation = _evaluation(None)
    rows = lambda table: list(table.columns[0].cells)  # noqa: E731
    assert rows(results_table(evaluation)) == []
    evaluation.lifted_pq = evaluation.lifted_pq_authors = PanopticQualityResult(scores, scores, scores)
    assert rows(results_table(evaluation)) == ["lifted (ours)", "lifted, authors' protocol"]
