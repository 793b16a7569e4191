"""Finding a font that can draw CJK as well as Latin text."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

# Debian's fonts-wqy-microhei (installed by `make tools`), then the other common CJK families.
CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def cjk_font_path() -> Path | None:
    for candidate in CJK_FONT_PATHS:
        path = Path(candidate)
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=32)
def load_font(size: int) -> Font:
    """A CJK-capable font at `size` pixels, or Pillow's default (Latin only) with a logged warning."""
    path = cjk_font_path()
    if path is not None:
        return ImageFont.truetype(str(path), size)
    log.warning("no CJK font found (install fonts-wqy-microhei); CJK text on cards will not render")
    return ImageFont.load_default(size)
