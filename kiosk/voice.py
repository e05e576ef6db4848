"""Spoken prompts for elder mode, through espeak-ng: one worker, the newest prompt wins.

A prompt that is still waiting when the next screen comes is dropped, and one being played
is cut short, so the voice always talks about the screen that is shown. Each prompt is
written as a WAV file (in a temporary folder, or `out_dir` to keep them) and played with the
configured player; with no player the files are only made (tests, machines without sound).
Prompts are fixed sentences from kiosk.words — never a name or a number of the taxpayer.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kiosk.voice")


@dataclass(frozen=True)
class Prompt:
    text: str
    lang: str


class Speaker:
    """Says prompts one at a time; `say()` returns at once."""

    def __init__(self, player: str = "aplay -q", volume: int = 80, out_dir: Path | None = None,
                 binary: str = "espeak-ng") -> None:
        self.player = player
        self.volume = volume
        self.binary = binary
        self._tmp = None if out_dir else tempfile.TemporaryDirectory(prefix="kiosk-voice-")
        self.out_dir = out_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._busy = False
        self._wake = threading.Condition()
        self._next: Prompt | None = None
        self._playing: subprocess.Popen[bytes] | None = None
        self._stop = False
        self._count = 0
        self.made: list[Path] = []
        self._thread = threading.Thread(target=self._work, name="kiosk-voice", daemon=True)
        self._thread.start()

    @property
    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def say(self, text: str, lang: str) -> None:
        with self._wake:
            self._next = Prompt(text, lang)
            playing = self._playing
            self._wake.notify()
        if playing is not None and playing.poll() is None:
            playing.terminate()  # the screen changed: stop talking about the last one

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def wait_idle(self, timeout_s: float) -> bool:
        """For tests: True once nothing is waiting or playing."""
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.05)):
            with self._wake:
                if self._next is None and not self._busy:
                    return True
            deadline.wait(0.05)
        return False

    def _work(self) -> None:
        while True:
            with self._wake:
                while self._next is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                prompt, self._next = self._next, None
                self._busy = True
            try:
                self._speak(prompt)
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("voice prompt failed: %s", exc)
            finally:
                with self._wake:
                    self._playing = None
                    self._busy = False

    def _speak(self, prompt: Prompt) -> None:
        exe = shutil.which(self.binary)
        if exe is None:
            log.warning("espeak-ng is not installed (Debian package espeak-ng): no voice prompts")
            return
        self._count += 1
        wav = self.out_dir / f"prompt-{self._count % 100:02d}-{prompt.lang}.wav"
        voice = "cmn" if prompt.lang == "zh" else "en"
        amplitude = str(int(self.volume * 1.5))  # espeak-ng: 0–200, 100 normal
        # elders follow slower speech better: 140 words a minute instead of espeak's 175
        made = subprocess.run([exe, "-v", voice, "-s", "140", "-a", amplitude, "-w", str(wav), prompt.text],
                              capture_output=True, timeout=30)
        if made.returncode != 0 or not wav.exists():
            log.warning("espeak-ng failed: %s", made.stderr.decode(errors="replace").strip()[:200])
            return
        self.made.append(wav)
        if not self.player:
            return
        with self._wake:
            if self._next is not None or self._stop:
                return  # already out of date
            self._playing = subprocess.Popen([*self.player.split(), str(wav)], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        self._playing.wait(timeout=60)
