"""The `cards` backend: each shot as a storyboard card (an animatic frame, not a generated picture).

The card shows the shot number and scene as a title, the visual prompt in the middle and the narration at
the foot, over a two-colour gradient whose hues come from a hash of the text, so a shot keeps its look
from run to run.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import re

from PIL import Image, ImageDraw

from deepfort.aigc.image.base import ShotCard
from deepfort.aigc.image.fonts import Font, load_font

RGB = tuple[int, int, int]
# A CJK character (or full-width punctuation) may break anywhere; Latin text breaks between words.
_TOKENS = re.compile(
    r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]|[^\s\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]+\s*|\s+"
)


def palette(text: str) -> tuple[RGB, RGB, RGB]:
    """Background top, background bottom and accent colours derived from the text's hash."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    hue = digest[0] / 255
    shift = 0.08 + digest[1] / 255 * 0.25

    def rgb(h: float, lightness: float, saturation: float) -> RGB:
        r, g, b = colorsys.hls_to_rgb(h % 1.0, lightness, saturation)
        return round(r * 255), round(g * 255), round(b * 255)

    return rgb(hue, 0.22, 0.45), rgb(hue + shift, 0.12, 0.5), rgb(hue + 0.5, 0.65, 0.7)


def wrap(text: str, font: Font, width: float) -> list[str]:
    """Greedy line breaking by measured width: words for Latin, single characters for CJK."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for token in _TOKENS.findall(paragraph):
            candidate = line + token
            if line and font.getlength(candidate.rstrip()) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line = candidate
        lines.append(line.rstrip())
    return lines


class CardsBackend:
    name = "cards"

    def render(self, shot: ShotCard, width: int, height: int) -> bytes:
        top, bottom, accent = palette(f"{shot.scene}\n{shot.visual_prompt}\n{shot.narration}")
        image = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(image)
        for y in range(height):
            t = y / max(height - 1, 1)
            colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
            draw.line([(0, y), (width, y)], fill=colour)
        margin = max(width // 20, 8)
        unit = max(height // 18, 8)
        title_font, body_font, small_font = (
            load_font(unit * 3 // 2),
            load_font(unit),
            load_font(unit * 4 // 5),
        )
        inner = width - 2 * margin

        badge = f"#{shot.index + 1}"
        badge_w = title_font.getlength(badge) + unit
        draw.rounded_rectangle(
            [margin, margin, margin + badge_w, margin + unit * 2], radius=unit // 2, fill=accent
        )
        draw.text((margin + unit // 2, margin + unit // 4), badge, font=title_font, fill=bottom)
        y = margin
        for line in wrap(shot.scene, title_font, inner - badge_w - unit)[:2]:
            draw.text((margin + badge_w + unit, y + unit // 4), line, font=title_font, fill=(250, 250, 250))
            y += unit * 2
        y = max(y, margin + unit * 2) + unit

        frame_bottom = height - margin - unit * 5
        draw.rectangle([margin, y, width - margin, frame_bottom], outline=accent, width=max(unit // 6, 2))
        text_y = y + unit // 2
        for line in wrap(shot.visual_prompt, body_font, inner - unit * 2):
            if text_y + unit > frame_bottom - unit // 2:
                break
            draw.text((margin + unit, text_y), line, font=body_font, fill=(235, 235, 235))
            text_y += unit * 5 // 4

        foot_y = frame_bottom + unit // 2
        for line in wrap(shot.narration, small_font, inner)[:4]:
            draw.text((margin, foot_y), line, font=small_font, fill=accent)
            foot_y += unit
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
