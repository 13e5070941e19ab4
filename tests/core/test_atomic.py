import os

import pytest

from qgan.core.atomic import atomic_path, write_json_atomic, write_text_atomic


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_written_files_get_normal_permissions(tmp_path):
    write_text_atomic(tmp_path / "x.json", "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_torch_checkpoints_are_content_stable(tmp_path):
    """The same tensors give the same file bytes (torch.save to a temp file names its archive after it)."""
    import hashlib

    import torch

    from qgan.core.torch_io import write_torch_atomic
    obj = {"w": torch.arange(12.0).reshape(3, 4), "meta": {"seed": 1}}
    digests = set()
    for name in ("a.pt", "b.pt", "a.pt"):
        write_torch_atomic(tmp_path / name, obj)
        digests.add(hashlib.md5((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1
    assert torch.equal(torch.load(tmp_path / "b.pt", weights_only=True)["w"], obj["w"])
    write_torch_atomic(tmp_path / "c.pt", {**obj, "w": obj["w"] + 1})
    assert hashlib.md5((tmp_path / "c.pt").read_bytes()).hexdigest() not in digests
