#!/usr/bin/env python3
"""Convert an X window dump (XWD, as written by `Xvfb -fbdir DIR` into
DIR/Xvfb_screen0, or by xwd) to PNG.  Stdlib only.

    tools/xwd2png.py Xvfb_screen0 out.png [--crop X,Y,W,H] [--scale N]

Handles the true-colour ZPixmap dumps Xvfb writes (depth 24, 32 bits per
pixel, either byte order).  --scale N keeps every Nth pixel (a cheap way to
a smaller file).
"""

import argparse
import struct
import sys
import zlib

HEADER_FIELDS = (
    "header_size file_version pixmap_format pixmap_depth pixmap_width "
    "pixmap_height xoffset byte_order bitmap_unit bitmap_bit_order "
    "bitmap_pad bits_per_pixel bytes_per_line visual_class red_mask "
    "green_mask blue_mask bits_per_rgb colormap_entries ncolors "
    "window_width window_height window_x window_y window_bdrwidth").split()


def read_xwd(data):
    h = dict(zip(HEADER_FIELDS, struct.unpack(">25I", data[:100])))
    if h["file_version"] != 7:
        raise ValueError("not an XWD version 7 file")
    if h["pixmap_format"] != 2 or h["bits_per_pixel"] not in (24, 32):
        raise ValueError("only true-colour ZPixmap dumps (24/32 bpp) are "
                         "supported, got format %d, %d bpp"
                         % (h["pixmap_format"], h["bits_per_pixel"]))
    offset = h["header_size"] + 12 * h["ncolors"]
    return h, data[offset:]


def _shift(mask):
    s = 0
    while mask and not mask & 1:
        mask >>= 1
        s += 1
    return s


def to_rgb_rows(h, pixels, crop=None, scale=1):
    width, height = h["pixmap_width"], h["pixmap_height"]
    x0, y0, w, hh = crop or (0, 0, width, height)
    w = min(w, width - x0)
    hh = min(hh, height - y0)
    bpp = h["bits_per_pixel"] // 8
    bpl = h["bytes_per_line"]
    order = "<" if h["byte_order"] == 0 else ">"
    masks = [(h[k], _shift(h[k])) for k in ("red_mask", "green_mask",
                                            "blue_mask")]
    rows = []
    for y in range(y0, y0 + hh, scale):
        line = pixels[y * bpl:(y + 1) * bpl]
        out = bytearray()
        for x in range(x0, x0 + w, scale):
            chunk = line[x * bpp:(x + 1) * bpp]
            if bpp == 4:
                (v,) = struct.unpack(order + "I", chunk)
            else:
                v = int.from_bytes(chunk, "little" if order == "<" else "big")
            for mask, shift in masks:
                out.append(((v & mask) >> shift) & 0xFF)
        rows.append(bytes(out))
    return rows


def write_png(path, rows):
    height = len(rows)
    width = len(rows[0]) // 3

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                           0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("xwd")
    ap.add_argument("png")
    ap.add_argument("--crop", help="X,Y,W,H")
    ap.add_argument("--scale", type=int, default=1)
    args = ap.parse_args(argv)
    with open(args.xwd, "rb") as f:
        data = f.read()
    h, pixels = read_xwd(data)
    crop = tuple(int(v) for v in args.crop.split(",")) if args.crop else None
    write_png(args.png, to_rgb_rows(h, pixels, crop, max(1, args.scale)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
