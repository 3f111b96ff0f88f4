"""engine/verdict.py: a result at chance or predicting one class is called out, a learned one is not."""

from __future__ import annotations

from resnet_gui.engine.verdict import chance_level, judge


def test_every_prediction_in_one_column_is_single_class():
    # the broken-files folder: 55.6% right, but only because the biggest class is everything
    confusion = [[5, 0], [4, 0]]
    v = judge(2, confusion=confusion)
    assert v is not None and v.kind == "single-class"
    assert abs(v.accuracy - 5 / 9) < 1e-9
    assert "same class" in v.text and "too few epochs" in v.text


def test_an_accuracy_near_one_over_classes_is_chance():
    v = judge(5, accuracy=0.225, num_images=160)
    assert v is not None and v.kind == "chance"
    assert "22.5%" in v.text and "20% for 5 classes" in v.text
    assert "learning rate" in v.text


def test_a_learned_result_gets_no_remark():
    assert judge(5, accuracy=0.6, num_images=160) is None
    assert judge(3, confusion=[[9, 1, 0], [1, 8, 1], [0, 2, 8]]) is None


def test_chance_is_the_majority_share_when_classes_are_imbalanced():
    assert chance_level(2, [90, 10]) == 0.9
    # 88% on a 90/10 split is no better than always answering the big class, even with two columns used
    confusion = [[80, 10], [2, 8]]
    v = judge(2, confusion=confusion)
    assert v is not None and v.kind == "chance"


def test_nothing_to_judge():
    assert judge(1, accuracy=1.0) is None
    assert judge(4) is None
    assert judge(4, confusion=[[0] * 4 for _ in range(4)]) is None
