from ferrymq.protocols.stomp.frames import Frame, FrameParser


def test_parser_stops_after_connect_until_version_is_set() -> None:
    p = FrameParser()
    p.stop_after_connect = True
    data = b"CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination:/queue/a\nh:a\\cb\n\nx\x00"
    first = p.feed(data)
    assert [f.command for f in first if isinstance(f, Frame)] == ["CONNECT"]
    assert p.buffered > 0
    p.version = "1.2"
    p.stop_after_connect = False
    (send,) = p.feed(b"")
    assert isinstance(send, Frame) and send.headers["h"] == "a:b"


def test_parser_parses_everything_without_the_flag() -> None:
    p = FrameParser()
    data = b"CONNECT\n\n\x00SEND\ndestination:/queue/a\n\nx\x00"
    assert [f.command for f in p.feed(data) if isinstance(f, Frame)] == ["CONNECT", "SEND"]
