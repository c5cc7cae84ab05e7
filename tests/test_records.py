"""Where results say they came from: the machine record, JSON lines, generated Markdown blocks
and the commit that ran."""
import subprocess

import pytest

from jetbook import records


def test_machine_names_the_platform_and_with_devices_jax():
    plain = records.machine(devices=False, cpus_used=1)
    assert {"platform", "processor", "cpu_count", "load_average_1min", "python"} <= set(plain)
    assert plain["cpus_used"] == 1 and "jax" not in plain and "device" not in plain
    full = records.machine()
    assert full["device"].startswith("cpu") or " x" in full["device"]
    assert full["jax"].count(".") >= 2


def test_json_lines_append_and_read_back(tmp_path):
    path = tmp_path / "deep" / "rows.jsonl"
    assert records.read_jsonl(path) == []                 # not there yet: no rows
    records.append_jsonl(path, {"a": 1})
    records.append_jsonl(path, {"b": [2, 3]})
    assert records.read_jsonl(path) == [{"a": 1}, {"b": [2, 3]}]
    path.write_text(path.read_text() + "\n\n")            # blank lines are not rows
    assert len(records.read_jsonl(path)) == 2


def test_blocks_are_rewritten_in_place_and_a_missing_block_is_an_error():
    text = "head\n<!-- t -->\nold\n<!-- /t -->\nmiddle\n<!-- t x.json -->\nold\n<!-- /t -->\ntail\n"
    out = records.rewrite_blocks(text, "t", lambda arg: f"new {arg}\n")
    assert out == ("head\n<!-- t -->\nnew None\n<!-- /t -->\nmiddle\n<!-- t x.json -->\n"
                   "new x.json\n<!-- /t -->\ntail\n")
    assert records.rewrite_blocks(out, "t", lambda arg: f"new {arg}") == out   # idempotent
    with pytest.raises(ValueError, match="no <!-- other --> ... <!-- /other --> block"):
        records.rewrite_blocks(text, "other", lambda arg: "")


def test_the_commit_says_when_the_code_differed_from_it(tmp_path):
    git = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t",
                                        *args], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "c")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    assert records.commit(tmp_path) == head
    assert records.short_commit(head) == head[:10]
    (tmp_path / "code.py").write_text("x = 2\n")
    assert records.commit(tmp_path) == head + "-dirty"
    assert records.short_commit(head + "-dirty") == head[:10] + "-dirty"
    assert records.commit(tmp_path, ["elsewhere"]) == head      # the change is not under it
    assert records.commit(tmp_path / "not-a-repo") is None
