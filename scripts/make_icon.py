"""Draw resnet_gui/assets/icon.png (256 px) from the same shapes as icon.svg, with Pillow only.

python scripts/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "resnet_gui" / "assets" / "icon.png"


def draw(size: int = 256) -> Image.Image:
    s = 4  # draw large, shrink: smooth edges
    img = Image.new("RGBA", (256 * s, 256 * s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0, y0, x1, y1):
        return [v * s for v in (x0, y0, x1, y1)]

    d.rounded_rectangle(box(8, 8, 248, 248), radius=44 * s, fill="#1d3557")
    for y, colour in ((52, "#f1faee"), (111, "#a8dadc"), (170, "#f1faee")):
        d.rounded_rectangle(box(60, y, 156, y + 34), radius=8 * s, fill=colour)
    d.arc(box(100, 69, 212, 187), start=-90, end=90, fill="#f4a261", width=12 * s)  # the skip connection
    d.polygon([(150 * s, 187 * s), (174 * s, 172 * s), (174 * s, 202 * s)], fill="#f4a261")
    d.ellipse(box(98, 118, 118, 138), fill="#1d3557")
    return img.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    draw().save(OUT)
    print(OUT)
