"""The one atomic-write helper: a target is either the old file or the whole new one."""

import pytest

from crowdpose3d.files import atomic_path, publish, temporary_beside


def test_a_finished_write_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as partial:
        assert partial == temporary_beside(target) and partial.parent == tmp_path
        partial.write_text("new")
        assert target.read_text() == "old"  # not visible before the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_failed_write_keeps_the_old_target_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as partial:
        partial.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_publish_moves_a_finished_folder_into_place(tmp_path):
    staging = tmp_path / ".staging"
    staging.mkdir()
    (staging / "part-000000.parquet").write_bytes(b"x")
    publish(staging, tmp_path / "source=a")
    assert (tmp_path / "source=a" / "part-000000.parquet").read_bytes() == b"x"
    assert not staging.exists()
