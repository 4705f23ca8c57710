"""OpenWire wire formats: the options a connection negotiates and how they are negotiated.

Each side sends a WireFormatInfo whose marshalled property map carries its preferences
(tight encoding, marshal cache and its size, size prefix, stack traces, frame size limit,
inactivity timeouts); :func:`negotiate` combines two of them as ActiveMQ does. Pure and stdlib
only; :mod:`.codec` re-exports every public name here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .props import JmsLong, decode_map, encode_map
from .spec import MAGIC, MAX_VERSION, DataStructure, WireFormatInfo

__all__ = [
    "WireFormat",
    "negotiate",
    "make_wire_format_info",
    "wire_format_properties",
    "DEFAULT_CACHE_SIZE",
    "MAX_CACHE_SIZE",
]

#: Cache size when the WireFormatInfo asks for none (ActiveMQ's MARSHAL_CACHE_SIZE).
MAX_CACHE_SIZE = 0x7FFF // 2
DEFAULT_CACHE_SIZE = 1024
_JAVA_LONG_MAX = 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class WireFormat:
    """The encoding options in force on a connection.

    The defaults are the pre-negotiation form every OpenWire peer starts in.
    ``max_frame_size`` is also a local limit: a declared frame size above it is refused.
    """

    version: int = MAX_VERSION
    tight_encoding: bool = False
    cache_enabled: bool = False
    cache_size: int = DEFAULT_CACHE_SIZE
    size_prefix_disabled: bool = False
    stack_trace_enabled: bool = False
    tcp_no_delay: bool = False
    max_frame_size: int = _JAVA_LONG_MAX
    max_inactivity_duration: int = 30_000
    max_inactivity_duration_initial_delay: int = 10_000

    def initial(self) -> WireFormat:
        """The fixed pre-negotiation form with this format's version and limits."""
        return replace(self, tight_encoding=False, cache_enabled=False, size_prefix_disabled=False)


# -- WireFormatInfo helpers ----------------------------------------------------------------


def make_wire_format_info(
    *,
    version: int = MAX_VERSION,
    tight_encoding: bool = True,
    cache_enabled: bool = True,
    cache_size: int = DEFAULT_CACHE_SIZE,
    stack_trace_enabled: bool = True,
    tcp_no_delay: bool = True,
    size_prefix_disabled: bool = False,
    max_inactivity_duration: int = 30_000,
    max_inactivity_duration_initial_delay: int = 10_000,
    max_frame_size: int = 104_857_600,
    provider_name: str = "ferrymq",
    provider_version: str | None = None,
    platform_details: str | None = None,
    extra: dict[str, Any] | None = None,
) -> DataStructure:
    """A WireFormatInfo carrying these preferences, typed as ActiveMQ reads them."""
    props: dict[str, Any] = {
        "TcpNoDelayEnabled": tcp_no_delay,
        "SizePrefixDisabled": size_prefix_disabled,
        "CacheSize": int(cache_size),
        "ProviderName": provider_name,
        "StackTraceEnabled": stack_trace_enabled,
        "CacheEnabled": cache_enabled,
        "TightEncodingEnabled": tight_encoding,
        "MaxFrameSize": JmsLong(max_frame_size),
        "MaxInactivityDuration": JmsLong(max_inactivity_duration),
        "MaxInactivityDurationInitalDelay": JmsLong(max_inactivity_duration_initial_delay),
    }
    if provider_version is not None:
        props["ProviderVersion"] = provider_version
    if platform_details is not None:
        props["PlatformDetails"] = platform_details
    if extra:
        props.update(extra)
    return WireFormatInfo(magic=MAGIC, version=version, marshalled_properties=encode_map(props))


def wire_format_properties(info: DataStructure) -> dict[str, Any]:
    """The options map of a WireFormatInfo (empty when it has none)."""
    raw = info.marshalled_properties
    if not raw:
        return {}
    return decode_map(raw, exact=False) or {}


def _java_min(a: int, b: int) -> int:
    # ActiveMQ's negotiation minimum: a value <= 0 means "no preference".
    if (a < b and a > 0) or b <= 0:
        return a
    return b


def negotiate(local: DataStructure, remote: DataStructure, base: WireFormat | None = None) -> WireFormat:
    """The wire format both peers use after exchanging WireFormatInfo, as ActiveMQ decides it:
    the lower version and frame size, each boolean option only if both want it, the smaller
    cache and inactivity settings."""
    mine = wire_format_properties(local)
    theirs = wire_format_properties(remote)

    def flag(name: str) -> bool:
        return mine.get(name) is True and theirs.get(name) is True

    def num(props: dict[str, Any], name: str) -> int:
        value = props.get(name)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0

    cache = flag("CacheEnabled")
    cache_size = min(num(mine, "CacheSize"), num(theirs, "CacheSize")) if cache else 0
    if cache and cache_size <= 0:
        cache_size = MAX_CACHE_SIZE
    max_frame = _java_min(num(mine, "MaxFrameSize"), num(theirs, "MaxFrameSize"))
    start = base or WireFormat()
    return replace(
        start,
        version=max(1, min(_java_min(int(local.version), int(remote.version)), MAX_VERSION)),
        tight_encoding=flag("TightEncodingEnabled"),
        cache_enabled=cache,
        cache_size=min(cache_size, MAX_CACHE_SIZE) if cache else start.cache_size,
        size_prefix_disabled=flag("SizePrefixDisabled"),
        stack_trace_enabled=flag("StackTraceEnabled"),
        tcp_no_delay=flag("TcpNoDelayEnabled"),
        max_frame_size=max_frame if max_frame > 0 else start.max_frame_size,
        max_inactivity_duration=min(num(mine, "MaxInactivityDuration"), num(theirs, "MaxInactivityDuration")),
        max_inactivity_duration_initial_delay=min(
            num(mine, "MaxInactivityDurationInitalDelay"), num(theirs, "MaxInactivityDurationInitalDelay")
        ),
    )
