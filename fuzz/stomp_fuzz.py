"""Longer fuzz run for the STOMP codec (the bounded version runs in tests/unit/test_stomp_frames.py).

Invariant: any byte string yields frames and heart-beats or raises StompCodecError, nothing
else, and feeding it whole or in chunks gives the same result.

    .venv/bin/python fuzz/stomp_fuzz.py [max_examples]   # default 20000
"""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrymq.protocols.stomp.frames import (
    ALL_COMMANDS,
    HEARTBEAT,
    VERSIONS,
    Frame,
    FrameParser,
    StompCodecError,
    encode_frame,
)

SEEDS = [
    b"CONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\x00\n",
    b"SEND\ndestination:/queue/a\ncontent-length:3\n\na\x00b\x00",
    b"MESSAGE\nsubscription:0\nmy\\cname:a\\\\b\\nc\\r\n\nbody\x00",
    b"SUBSCRIBE\nid:0\ndestination:/topic/x\nack:client-individual\n\n\x00",
    b"\n\r\n",
]
LIMITS = {"max_frame_size": 300, "max_headers": 6, "max_header_length": 60}


def decode(data: bytes, version: str, chunk: int) -> list[Frame | object] | None:
    parser = FrameParser(**LIMITS)
    parser.version = version
    out: list[Frame | object] = []
    try:
        for i in range(0, len(data), chunk):
            out += parser.feed(data[i : i + chunk])
    except StompCodecError:
        return None
    return out


def mutate(seed: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(seed)), st.binary(max_size=8), st.integers(0, 8)).map(
        lambda t: seed[: t[0]] + t[1] + seed[t[0] + t[2] :]
    )


fuzz_input = st.one_of(
    st.binary(max_size=400),
    st.sampled_from(SEEDS).flatmap(mutate),
    st.lists(st.sampled_from([*SEEDS, b"\\", b":", b"\r", b"\x00", b"\xff"]), max_size=10).map(b"".join),
)


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 20000

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=fuzz_input, version=st.sampled_from(VERSIONS), chunk=st.integers(1, 128))
    def invariant(data: bytes, version: str, chunk: int) -> None:
        whole = decode(data, version, len(data) or 1)
        pieces = decode(data, version, chunk)
        assert whole == pieces, (whole, pieces)
        for item in whole or []:
            assert item is HEARTBEAT or isinstance(item, Frame)
            if isinstance(item, Frame):
                assert item.command in ALL_COMMANDS
                # what was decoded re-encodes when the version can carry it, and decodes back
                try:
                    wire = encode_frame(item.command, item.headers, item.body, version)
                except StompCodecError:
                    continue
                assert decode(wire, version, 7) in ([item], None)  # None: re-encoded frame hits a limit

    invariant()
    print(f"stomp fuzz: {examples} examples, invariant held")


if __name__ == "__main__":
    main()
