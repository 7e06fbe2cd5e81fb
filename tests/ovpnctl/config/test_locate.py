"""The source scans that give config errors their line numbers."""

from __future__ import annotations

from ovpnctl.config.locate import SourceMap, format_path, scan_json, scan_toml


def test_format_path() -> None:
    assert format_path(("peer", 2, "key", "encrypt")) == "peer[2].key.encrypt"
    assert format_path(("interface",)) == "interface"
    assert format_path(()) == "(top level)"


def test_toml_tables_arrays_and_dotted_keys() -> None:
    text = (
        "# comment = not a key\n"  # 1
        "[interface]\n"  # 2
        'name = "a=b"   # trailing = comment\n'  # 3
        "\n"  # 4
        "[[peer]]\n"  # 5
        "id = 1\n"  # 6
        "key.id = 0\n"  # 7
        '"quoted.key" = 1\n'  # 8
        "[[peer]]\n"  # 9
        "id = 2\n"  # 10
        "[peer.key]\n"  # 11
        "encrypt = 'x'\n"  # 12
        "[ peer . secondary_key ]\n"  # 13
        "id = 3\n"  # 14
    )
    lines = scan_toml(text).lines
    assert lines[("interface", "name")] == 3
    assert lines[("peer", 0)] == 5
    assert lines[("peer", 0, "key", "id")] == 7
    assert lines[("peer", 0, "quoted.key")] == 8
    assert lines[("peer", 1, "id")] == 10
    assert lines[("peer", 1, "key", "encrypt")] == 12
    assert lines[("peer", 1, "secondary_key", "id")] == 14
    assert ("comment",) not in lines


def test_toml_multiline_values_are_not_read_as_keys() -> None:
    text = (
        "[interface]\n"  # 1
        'note = """\n'  # 2
        "fake = 1\n"  # 3
        '"""\n'  # 4
        "listen = [\n"  # 5
        '  "a", # fake = 2\n'  # 6
        '  "b",\n'  # 7
        "]\n"  # 8
        "inline = { a = [1,\n"  # 9
        "  2], b = 3 }\n"  # 10
        "after = 1\n"  # 11
    )
    lines = scan_toml(text).lines
    assert ("interface", "fake") not in lines
    assert lines[("interface", "listen", 0)] == 6
    assert lines[("interface", "listen", 1)] == 7
    assert lines[("interface", "after")] == 11


def test_nearest_ancestor_fallback() -> None:
    source = SourceMap({("peer", 0): 4, ("peer", 0, "keepalive"): 7})
    assert source.line_of(("peer", 0, "keepalive", "interval")) == 7
    assert source.line_of(("peer", 0, "remote")) == 4
    assert source.line_of(("interface",)) is None


def test_json_keys_and_elements() -> None:
    text = '{\n "a": {"b": [1,\n  {"c": "x\\"y"}]},\n "d": null\n}\n'
    lines = scan_json(text).lines
    assert lines[("a",)] == 2
    assert lines[("a", "b", 0)] == 2
    assert lines[("a", "b", 1)] == 3
    assert lines[("a", "b", 1, "c")] == 3
    assert lines[("d",)] == 4
