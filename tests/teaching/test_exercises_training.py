"""The exercise checks of notebooks 06 and 07: right answers pass, wrong and None raise."""
import pytest

import jetbook as jb

CASES = [
    # (check, extra arguments, right answers, wrong answers)
    ("check_bits_per_image", (1.5, (8, 8, 1)), [96.0, 96.02], [1.5, 96.0 * 0.6931, 64.0, "abc"]),
    ("check_steps_for_epochs", (200, 1_281_167, 256), [200 * 1_281_167 / 256, 1_000_911, 1_000_912],
     [200 * 1_281_167, 1_281_167 / 256, 1_000_000, [1, 2]]),
]


@pytest.mark.parametrize("name, args, rights, wrongs", CASES, ids=[c[0] for c in CASES])
def test_right_answers_pass(name, args, rights, wrongs, capsys):
    check = getattr(jb.exercises, name)
    for right in rights:
        check(right, *args)
        assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("name, args, rights, wrongs", CASES, ids=[c[0] for c in CASES])
def test_wrong_answers_raise_with_a_hint(name, args, rights, wrongs):
    check = getattr(jb.exercises, name)
    for wrong in wrongs:
        with pytest.raises(jb.exercises.ExerciseError) as info:
            check(wrong, *args)
        assert len(str(info.value)) > 30                     # says what to look at


@pytest.mark.parametrize("name, args, rights, wrongs", CASES, ids=[c[0] for c in CASES])
def test_none_asks_to_replace_it(name, args, rights, wrongs):
    with pytest.raises(jb.exercises.ExerciseError, match="replace None"):
        getattr(jb.exercises, name)(None, *args)


def test_specific_hints():
    with pytest.raises(jb.exercises.ExerciseError, match="one dimension"):
        jb.exercises.check_bits_per_image(1.5, 1.5, (8, 8, 1))
    with pytest.raises(jb.exercises.ExerciseError, match="nats"):
        jb.exercises.check_bits_per_image(96.0 * 0.693147, 1.5, (8, 8, 1))
    with pytest.raises(jb.exercises.ExerciseError, match="counts images"):
        jb.exercises.check_steps_for_epochs(200 * 1000, 200, 1000, 10)
    with pytest.raises(jb.exercises.ExerciseError, match="one epoch"):
        jb.exercises.check_steps_for_epochs(100, 200, 1000, 10)
