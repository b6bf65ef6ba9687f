"""The upper-dir checksum sees content, mode and new files, and ignores login noise."""

from sandbox import treesum


def test_digest_changes_with_content_mode_and_new_files(tmp_path):
    (tmp_path / "etc").mkdir()
    f = tmp_path / "etc" / "a"
    f.write_text("1")
    first = treesum.digest(tmp_path)
    assert treesum.digest(tmp_path) == first
    f.write_text("2")
    second = treesum.digest(tmp_path)
    assert second != first
    f.chmod(0o600)
    third = treesum.digest(tmp_path)
    assert third != second
    (tmp_path / "etc" / "b").symlink_to("a")
    assert treesum.digest(tmp_path) != third


def test_login_accounting_is_ignored(tmp_path):
    (tmp_path / "var/log").mkdir(parents=True)
    before = treesum.digest(tmp_path)
    (tmp_path / "var/log/wtmp").write_bytes(b"login")
    assert treesum.digest(tmp_path) == before
