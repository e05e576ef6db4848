"""A stand-in sound card for voice tests: 'plays' a WAV by sleeping for its length and logs
start and end, so a test can see announcements never overlap."""

import sys
import time
import wave

log_path, wav_path = sys.argv[1], sys.argv[2]
with wave.open(wav_path, "rb") as w:
    seconds = w.getnframes() / w.getframerate()
with open(log_path, "a") as log:
    log.write(f"start {time.monotonic():.4f} {wav_path}\n")
time.sleep(min(seconds, 0.3))
with open(log_path, "a") as log:
    log.write(f"end {time.monotonic():.4f} {wav_path}\n")
