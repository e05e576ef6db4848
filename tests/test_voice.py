"""Voice announcements: real espeak-ng audio, recorded clips joined, one call at a time."""

from __future__ import annotations

import subprocess
import sys
import wave
from datetime import datetime
from pathlib import Path

import pytest

from display.voice import (Announcer, Call, ClipSound, EspeakSound, VoiceError, VoiceSection, announcement_text,
                           audio_facts, clip_names, spoken_ticket_zh, within_hours)


def test_announcement_texts() -> None:
    assert spoken_ticket_zh("A023") == "A 零二三"
    assert announcement_text(Call("A023", "3"), "zh") == "请 A 零二三 号 到 3 号窗口办理"
    assert announcement_text(Call("B105", "12"), "en") == "Number B 1 0 5, please go to window 12"
    assert clip_names(Call("A023", "3")) == ["qing", "A", "0", "2", "3", "hao", "dao", "3", "haochuangkou", "banli"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_espeak_makes_audible_speech(tmp_path: Path, lang: str) -> None:
    out = EspeakSound(volume=80).make(Call("A023", "3"), lang, tmp_path / f"{lang}.wav")
    facts = audio_facts(out)
    assert 1.0 < facts.seconds < 10.0
    assert facts.rms > 300  # speech, not silence


def make_clips(folder: Path) -> None:
    folder.mkdir()
    words = {"qing": "请", "hao": "号", "dao": "到", "haochuangkou": "号窗口", "banli": "办理"}
    words.update({str(d): "零一二三四五六七八九"[d] for d in range(10)})
    words.update({c: c for c in "ABCV"})
    for name, text in words.items():
        subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(folder / f"{name}.wav"), text], check=True)


def test_recorded_clips_are_joined_in_order(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    make_clips(clips)
    out = ClipSound(clips, volume=100).make(Call("A023", "3"), "zh", tmp_path / "joined.wav")
    expected = sum(audio_facts(clips / f"{n}.wav").seconds for n in clip_names(Call("A023", "3")))
    facts = audio_facts(out)
    assert abs(facts.seconds - expected) < 0.01
    assert facts.rms > 300


def test_missing_or_mismatched_clip_is_a_clear_error(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    make_clips(clips)
    (clips / "banli.wav").unlink()
    with pytest.raises(VoiceError, match="missing voice clip .*banli.wav"):
        ClipSound(clips).make(Call("A023", "3"), "zh", tmp_path / "x.wav")
    with wave.open(str(clips / "banli.wav"), "wb") as odd:
        odd.setnchannels(2)
        odd.setsampwidth(2)
        odd.setframerate(8000)
        odd.writeframes(b"\x00" * 1600)
    with pytest.raises(VoiceError, match="another format"):
        ClipSound(clips).make(Call("A023", "3"), "zh", tmp_path / "x.wav")


def test_calls_never_talk_over_each_other_and_recalls_repeat(tmp_path: Path) -> None:
    log = tmp_path / "player.log"
    player = f"{sys.executable} {Path(__file__).parent / 'record_player.py'} {log}"
    section = VoiceSection(languages=["zh", "en"], player=player, repeat_recall=2)
    announcer = Announcer(section, tmp_path / "audio").start()
    announcer.announce(Call("A001", "1"))
    announcer.announce(Call("B002", "2", recall=True))
    assert announcer.wait_idle(60)
    announcer.close()

    events = [line.split() for line in log.read_text().splitlines()]
    played = [Path(e[2]).name for e in events if e[0] == "start"]
    assert [p.split("-")[2] for p in played] == ["A001", "A001", "B002", "B002", "B002", "B002"]
    # strictly start, end, start, end ...: one sound at a time
    assert [e[0] for e in events] == ["start", "end"] * len(played)
    assert len(announcer.said) == 4 and all(audio_facts(p).rms > 300 for p in announcer.said)


def test_quiet_hours_write_files_but_play_nothing(tmp_path: Path) -> None:
    log = tmp_path / "player.log"
    now = datetime.now()
    closed = "00:00-00:01" if now.hour >= 1 else "23:00-23:59"
    assert not within_hours(closed, now)
    section = VoiceSection(player=f"{sys.executable} {Path(__file__).parent / 'record_player.py'} {log}", hours=closed)
    announcer = Announcer(section, tmp_path / "audio").start()
    announcer.announce(Call("C003", "4"))
    assert announcer.wait_idle(30)
    announcer.close()
    assert len(announcer.said) == 1 and not log.exists()


def test_bad_hours_in_config_are_refused() -> None:
    with pytest.raises(ValueError, match="hours like"):
        VoiceSection(hours="8-17")
