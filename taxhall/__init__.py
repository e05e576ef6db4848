"""taxhall: the shared core of the tax service hall's device stack.

The `taxhall` command, device configuration, logging with privacy masking and the hall bus
(MQTT 5) live here. Applications (ticketer, kiosk, display) build on this package; it imports
none of them except in the command dispatcher.
"""

from importlib.metadata import PackageNotFoundError, version as _dist_version

try:
    __version__ = _dist_version("taxhall")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
