"""Tap scripts (kiosk.tapscript): steps are checked before anything is tapped, a remote script
cannot stop the kiosk, and a run records what was issued and printed by number only. The
real app running them over `cmd/script` is in test_demo_hall.py; from a file, test_kiosk_app.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from kiosk.session import Screen, Session
from kiosk.tapscript import ScriptError, ScriptRun, check_steps, load_script


def view(screen: Screen, **session: object) -> SimpleNamespace:
    """What ScriptRun reads of a View: the screen and the visit."""
    return SimpleNamespace(screen=screen, session=Session(**session))  # type: ignore[arg-type]


def test_steps_are_checked_before_anything_is_tapped() -> None:
    good = [{"wait": "home"}, {"tap": "tile_certificate"}, {"sleep": 0.5}, {"screenshot": "/tmp/x.png", "timeout": 5}]
    assert check_steps(good, remote=True) == good
    for bad, words in (([], "non-empty"), ({"tap": "x"}, "non-empty"), ([{"wait": "nowhere"}], "step 0: wait for a screen"),
                       ([{"tap": "a"}, {"tap": ""}], "step 1: tap"), ([{"tap": "a", "wait": "home"}], "exactly one"),
                       ([{"tap": "a", "colour": "red"}], "exactly one"), ([{"sleep": -1}], "sleep"),
                       ([{"screenshot": "x.jpg"}], ".png"), ([{"tap": "a", "timeout": 0}], "timeout"),
                       (["tap"], "expected an object")):
        with pytest.raises(ScriptError, match=words):
            check_steps(bad, remote=False)


def test_only_a_script_file_may_quit(tmp_path: Path) -> None:
    assert check_steps([{"quit": True}], remote=False) == [{"quit": True}]
    with pytest.raises(ScriptError, match="cannot stop the kiosk"):
        check_steps([{"wait": "home"}, {"quit": True}], remote=True)
    path = tmp_path / "steps.json"
    path.write_text(json.dumps([{"wait": "home"}, {"quit": True}]), encoding="utf-8")
    assert load_script(str(path))[-1] == {"quit": True}
    path.write_text(json.dumps([{"wait": "the moon"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="steps.json: step 0"):
        load_script(str(path))


def test_a_run_records_documents_and_pages_across_visits() -> None:
    certificate = SimpleNamespace(number="26110000000001")
    ticket = SimpleNamespace(number="A005")
    run = ScriptRun([{"tap": "print"}, {"wait": "home"}])
    run.begin(view(Screen.CERT_RECORDS, prints=1))  # printed before the run: not the run's
    run.note(view(Screen.CERT_DONE, certificate=certificate, prints=2))
    run.note(view(Screen.HOME))  # the visit ends: prints start again at 0
    run.note(view(Screen.QUEUE_DONE, ticket=ticket, prints=1))
    run.advance()
    run.finish("home")
    answer = run.answer()
    assert answer["certificate"] == "26110000000001" and answer["ticket"] == "A005"
    assert answer["printed"] == 2 and answer["screen"] == "home" and answer["steps"] == 1
    assert run.longest_s() == 45.0  # two steps of 20 s and the slack


def test_the_demo_cards_file_is_printed_for_tools_that_do_not_import_the_kiosk() -> None:
    result = subprocess.run([sys.executable, "-m", "kiosk.demo_cards", "--identity-file"], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    cards = json.loads(result.stdout.decode("utf-8"))
    assert cards[0]["name"] == "王秀英" and len(cards) == 4 and all(len(c["id_number"]) == 18 for c in cards)
