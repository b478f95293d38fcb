import numpy as np
from nightowl.pipelines.checkpoints import Checkpoints, work_key


def test_finished_stages_survive_a_new_process(tmp_path) -> None:
    key = work_key("podcast", "abc", {"x": 1})
    work = Checkpoints(tmp_path / key, key)
    assert not work.done("separate") and work.resumed == []
    work.save("separate", {"ran": True}, {"voice": np.arange(6, dtype=np.float32).reshape(3, 2)})
    work.save("vad", {"spans": [[0.0, 1.0]]})
    again = Checkpoints(tmp_path / key, key)
    assert again.resumed == ["separate", "vad"]
    assert again.data("vad") == {"spans": [[0.0, 1.0]]}
    assert again.has_array("separate", "voice") and not again.has_array("vad", "voice")
    np.testing.assert_array_equal(again.array("separate", "voice"), np.arange(6).reshape(3, 2))


def test_other_parameters_start_over(tmp_path) -> None:
    key = work_key("podcast", "abc", {"x": 1})
    Checkpoints(tmp_path / "w", key).save("vad", {"spans": []}, {"a": np.zeros(3)})
    other = work_key("podcast", "abc", {"x": 2})
    assert other != key
    fresh = Checkpoints(tmp_path / "w", other)
    assert not fresh.done("vad") and list((tmp_path / "w").iterdir()) == []


def test_a_stage_without_its_mark_is_not_done(tmp_path) -> None:
    key = work_key("podcast", "abc", {})
    work = Checkpoints(tmp_path / "w", key)
    np.save(tmp_path / "w" / "denoise.speech.npy", np.zeros(3))  # killed before the mark was written
    assert not Checkpoints(tmp_path / "w", key).done("denoise")
    work.remove()
    assert not (tmp_path / "w").exists()


def test_stale_work_folders_go_after_a_week(tmp_path) -> None:
    import os
    import time

    from nightowl.pipelines.checkpoints import remove_stale

    old, fresh = tmp_path / "old", tmp_path / "fresh"
    Checkpoints(old, "a").save("vad", {})
    Checkpoints(fresh, "b").save("vad", {})
    week_ago = time.time() - 8 * 86400
    for p in [old, *old.iterdir()]:
        os.utime(p, (week_ago, week_ago))
    assert remove_stale(tmp_path) == [old]
    assert fresh.exists() and not old.exists()
    assert remove_stale(tmp_path / "missing") == []
