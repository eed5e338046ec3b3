import gc

from krafa_kit.collector import gc_paused


def test_gc_pause_nests_and_ends() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer batch still holds it
    assert gc.isenabled()
    try:
        with gc_paused():
            raise RuntimeError("the request failed")
    except RuntimeError:
        pass
    assert gc.isenabled()
    # A collector switched off by someone else stays off.
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
