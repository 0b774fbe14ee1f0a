"""The memory ceiling for conversions: estimates from the header, never decoding,
and a budget that refuses what alone exceeds it and makes the rest take turns."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from archive.convert import ImageTooLarge, MemoryBudget, working_memory
from archive.convert.budget import JPEG_BYTES_PER_PIXEL, RASTER_BYTES_PER_PIXEL, VIDEO_COPIES
from tests.support import corpus


def png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, format="PNG")
    return out.getvalue()


def test_estimates_come_from_the_header() -> None:
    png = png_bytes(1200, 800)
    assert working_memory(png) == 1200 * 800 * RASTER_BYTES_PER_PIXEL
    # A header that declares 40000x40000 is estimated as such, without decoding,
    # and refused as a bomb when it declares more pixels than the limit.
    bomb = png[:16] + (40000).to_bytes(4, "big") + (40000).to_bytes(4, "big") + png[24:]
    limit = 40000 * 40000
    assert working_memory(bomb, max_pixels=limit) == limit * RASTER_BYTES_PER_PIXEL
    with pytest.raises(ImageTooLarge, match="40000x40000"):
        working_memory(bomb, max_pixels=limit - 1)
    jpeg = corpus("jpeg", "rose.jpg").read_bytes()
    assert working_memory(jpeg) > len(jpeg) and working_memory(jpeg) % JPEG_BYTES_PER_PIXEL == 0
    video = corpus("video", "testsrc_640x480_2s.mp4").read_bytes()
    assert working_memory(video) == VIDEO_COPIES * len(video)


def test_a_conversion_larger_than_the_budget_is_refused() -> None:
    budget = MemoryBudget(100 * 1024 * 1024)
    too_much = budget.reserve(100 * 1024 * 1024 + 1)
    with pytest.raises(ImageTooLarge, match=r"needs about 101 MiB.*allows 100 MiB"), too_much:
        pass
    assert budget.used == 0


def test_conversions_take_turns_within_the_budget() -> None:
    budget = MemoryBudget(100)
    peak = 0
    lock = threading.Lock()

    def convert(_: int) -> None:
        nonlocal peak
        with budget.reserve(60):
            with lock:
                peak = max(peak, budget.used)
            time.sleep(0.01)  # hold the reservation while others try to take theirs

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(convert, range(8)))
    assert peak == 60  # never two at once: 120 would exceed the budget
    assert budget.used == 0
