"""Voice announcements for calls: "请 A023 号到 3 号窗口办理", in Mandarin and optionally English.

Two ways to make the sound, chosen in config: espeak-ng (the default, nothing to install
beyond the Debian package) or a folder of recorded clips joined together, which is how most
halls do it (a recorded voice reads numbers better than any synthesiser). Announcements go
through one queue and one worker, so calls never talk over each other; a recall is said twice.
"""

from __future__ import annotations

import logging
import queue
import re
import shutil
import subprocess
import threading
import wave
from dataclasses import dataclass, field
from datetime import datetime, time as dtime
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import Field, field_validator

from taxhall.config import ConfigSection

log = logging.getLogger("display.voice")

_DIGITS_ZH = "零一二三四五六七八九"


class VoiceError(Exception):
    """An announcement could not be made into sound."""


class VoiceSection(ConfigSection):
    engine: Literal["espeak", "clips"] = Field("espeak", description="espeak-ng, or recorded clips joined")
    clips_dir: str = Field("", description="folder of WAV clips for engine = clips (see docs/voice.md)")
    languages: list[Literal["zh", "en"]] = Field(["zh"], description="languages said for each call, in order")
    volume: int = Field(80, ge=0, le=100, description="loudness in per cent")
    hours: str = Field("00:00-24:00", description="when calls are spoken, HH:MM-HH:MM local time")
    player: str = Field("aplay -q", description="command that plays a WAV file; empty writes files only")
    repeat_recall: int = Field(2, ge=1, le=5, description="how often a recall is said")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value


def parse_hours(text: str) -> tuple[dtime, dtime]:
    match = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", text)
    if not match:
        raise ValueError("hours like 08:30-17:30")
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError("hours like 08:30-17:30 with real clock times")
    end = dtime(23, 59, 59) if h2 == 24 else dtime(h2, m2)
    return dtime(h1, m1), end


def within_hours(hours: str, now: datetime) -> bool:
    start, end = parse_hours(hours)
    return start <= now.time() <= end


@dataclass(frozen=True)
class Call:
    ticket: str  # e.g. A023
    counter: str  # e.g. 3
    recall: bool = False


def spoken_ticket_zh(ticket: str) -> str:
    """A023 → "A 零二三": digits one by one, as halls announce them."""
    letters = "".join(c for c in ticket if not c.isdigit())
    digits = "".join(_DIGITS_ZH[int(c)] for c in ticket if c.isdigit())
    return f"{letters} {digits}".strip()


def announcement_text(call: Call, lang: str) -> str:
    if lang == "zh":
        return f"请 {spoken_ticket_zh(call.ticket)} 号 到 {call.counter} 号窗口办理"
    spaced = " ".join(call.ticket)
    return f"Number {spaced}, please go to window {call.counter}"


def clip_names(call: Call) -> list[str]:
    """The clip files a Mandarin call is built from (clips engine), in order."""
    names = ["qing"]
    names += [c.upper() if not c.isdigit() else c for c in call.ticket]
    names += ["hao", "dao"]
    names += list(call.counter) if call.counter.isdigit() else [call.counter]
    names += ["haochuangkou", "banli"]
    return names


class SoundMaker(Protocol):
    def make(self, call: Call, lang: str, out: Path) -> Path: ...


@dataclass(frozen=True)
class EspeakSound:
    volume: int = 80
    binary: str = "espeak-ng"

    def make(self, call: Call, lang: str, out: Path) -> Path:
        exe = shutil.which(self.binary)
        if not exe:
            raise VoiceError("espeak-ng is not installed (Debian package espeak-ng)")
        voice = "cmn" if lang == "zh" else "en"
        # espeak-ng amplitude runs 0–200 with 100 as normal.
        amplitude = str(int(self.volume * 1.5))
        result = subprocess.run(
            [exe, "-v", voice, "-s", "150", "-a", amplitude, "-w", str(out), announcement_text(call, lang)],
            capture_output=True, text=True, timeout=30,
        )
        if result.returncode != 0 or not out.exists():
            raise VoiceError(f"espeak-ng failed: {result.stderr.strip() or result.returncode}")
        return out


@dataclass(frozen=True)
class ClipSound:
    folder: Path
    volume: int = 80

    def make(self, call: Call, lang: str, out: Path) -> Path:
        if lang != "zh":
            raise VoiceError("recorded clips are Mandarin only; use engine = espeak for English")
        frames: list[bytes] = []
        params = None
        for name in clip_names(call):
            path = self.folder / f"{name}.wav"
            if not path.exists():
                raise VoiceError(f"missing voice clip {path}")
            with wave.open(str(path), "rb") as clip:
                shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
                if params is None:
                    params = clip.getparams()
                elif shape != (params.nchannels, params.sampwidth, params.framerate):
                    raise VoiceError(f"clip {path.name} has another format than the first clip; re-record it alike")
                frames.append(clip.readframes(clip.getnframes()))
        assert params is not None
        audio = b"".join(frames)
        if params.sampwidth == 2:
            samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) * (self.volume / 100.0)
            audio = np.clip(samples, -32768, 32767).astype(np.int16).tobytes()
        with wave.open(str(out), "wb") as dest:
            dest.setparams(params)
            dest.writeframes(audio)
        return out


def sound_maker(section: VoiceSection) -> SoundMaker:
    if section.engine == "clips":
        return ClipSound(Path(section.clips_dir), section.volume)
    return EspeakSound(section.volume)


@dataclass(frozen=True)
class AudioFacts:
    seconds: float
    rms: float


def audio_facts(path: Path) -> AudioFacts:
    """Duration and loudness (RMS of 16-bit samples, 0–32767) of a WAV file."""
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / float(w.getframerate())
        width = w.getsampwidth()
    if width != 2 or not frames:
        return AudioFacts(seconds, 0.0)
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    return AudioFacts(seconds, float(np.sqrt(np.mean(samples**2))))


@dataclass
class Announcer:
    """One queue of announcements and one worker: calls are said one after another.

    Every announcement is written as a WAV file under `out_dir` (the demo keeps them; a hall
    device may point it at a tmpfs) and, if a player is configured and the hour is within
    `hours`, played before the next one starts."""

    section: VoiceSection
    out_dir: Path
    maker: SoundMaker | None = None
    _queue: "queue.Queue[Call | None]" = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _count: int = 0
    said: list[Path] = field(default_factory=list)

    def start(self) -> "Announcer":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.maker = self.maker or sound_maker(self.section)
        self._thread = threading.Thread(target=self._work, name="announcer", daemon=True)
        self._thread.start()
        return self

    def announce(self, call: Call) -> None:
        self._queue.put(call)

    def close(self, wait_s: float = 30.0) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(wait_s)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """True once everything queued has been said (for tests and the scripted demo)."""
        done = threading.Event()

        def check() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=check, daemon=True).start()
        return done.wait(timeout_s)

    def _work(self) -> None:
        while True:
            call = self._queue.get()
            try:
                if call is None:
                    return
                self._say(call)
            except VoiceError as exc:
                log.error("cannot announce %s: %s", call.ticket if call else "", exc)
            except Exception:
                log.exception("announcement failed")
            finally:
                self._queue.task_done()

    def _say(self, call: Call) -> None:
        assert self.maker is not None
        times = self.section.repeat_recall if call.recall else 1
        files = []
        for lang in self.section.languages:
            self._count += 1
            out = self.out_dir / f"call-{self._count:05d}-{call.ticket}-{call.counter}-{lang}.wav"
            files.append(self.maker.make(call, lang, out))
        self.said.extend(files)
        if not self.section.player or not within_hours(self.section.hours, datetime.now()):
            return
        for _ in range(times):
            for path in files:
                self._play(path)

    def _play(self, path: Path) -> None:
        command = [*self.section.player.split(), str(path)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VoiceError(f"player '{self.section.player}' failed: {exc}") from None
        if result.returncode != 0:
            # No sound card is a fault to report, not a reason to stop announcing on screen.
            raise VoiceError(f"player '{self.section.player}' failed: {result.stderr.strip()[:200]}")
