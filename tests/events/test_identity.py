"""The device's signing key: one key per device, even when two services create it at the same moment."""

from pathlib import Path

from edge import identity


def test_a_key_created_by_another_process_meanwhile_is_used_not_replaced(tmp_path, monkeypatch):
    """Station and uplink start together on a machine set up without `provision`: both see no key. The second must
    sign with the first one's key, or the agency registers one key and gets events signed by another."""
    path = tmp_path / "device.pem"
    first = identity.load_or_create_key(path)
    monkeypatch.setattr(Path, "exists", lambda self: False)   # it looked before the first one wrote
    second = identity.load_or_create_key(path)
    monkeypatch.undo()
    assert second.key_id == first.key_id
    assert identity.load_key(path).key_id == first.key_id
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["device.pem"]   # no temporary files left behind


def test_a_key_first_created_by_root_belongs_to_the_owner_of_its_directory(tmp_path):
    """`sudo borderpost identity show` before the services ran must not leave a key the service user cannot read."""
    import os

    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root")
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 4321, 4321)
    identity.load_or_create_key(state / "device.pem")
    st = (state / "device.pem").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (4321, 4321, 0o600)
