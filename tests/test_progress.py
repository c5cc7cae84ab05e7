"""Progress goes to a terminal or notebook as tqdm's bar, and anywhere else as plain lines."""
import io

from jetbook.progress import PlainProgress, progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_a_file_gets_plain_lines_at_most_every_interval():
    stream = io.StringIO()
    bar = progress_bar(1000, desc="train digits", every_s=3600, file=stream)
    assert isinstance(bar, PlainProgress)
    for _ in range(1000):
        bar.update(1)
    bar.set_postfix({"train_bpd": "2.500"})
    bar.close()
    bar.close()                                   # a second close writes nothing more
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert len(lines) == 1 and lines[0].startswith("train digits: 1000/1000 (100%)")
    assert lines[0].endswith("train_bpd=2.500")


def test_every_interval_writes_a_line():
    stream = io.StringIO()
    with progress_bar(5, initial=2, desc="ablate x", every_s=0, file=stream, unit="run") as bar:
        for _ in range(3):
            bar.update()
            bar.set_postfix_str("seed 0")
        bar.write("run 4 done")
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["ablate x: 3/5 (60%)", "ablate x: 4/5 (80%)",
                                                      "ablate x: 5/5 (100%)", "run 4 done",
                                                      "ablate x: 5/5 (100%)"]
    assert "run/s" in lines[0] and lines[1].endswith("at=seed 0")


def test_a_terminal_gets_tqdm_and_disable_gets_nothing():
    terminal = FakeTerminal()
    bar = progress_bar(10, desc="train", file=terminal)
    assert not isinstance(bar, PlainProgress)
    bar.update(10)
    bar.close()
    assert "\r" in terminal.getvalue()
    quiet = io.StringIO()
    bar = progress_bar(10, desc="train", disable=True, file=quiet)
    bar.update(10)
    bar.close()
    assert quiet.getvalue() == ""
