#!/usr/bin/env python3
"""preprocess.adobe_cmyk: CMYK JPEGs written by PIL (Image.convert('CMYK').save, which stores
inverted samples behind an Adobe APP14 marker, as Photoshop and ImageMagick do) decode to the
gray image PIL renders from the same file (Image.open(f).convert('L')), within 2 gray levels
per pixel and 0.5 on average (both round CMYK -> RGB -> BT.601 luma to integers at each step).
The same file with its APP14 marker removed holds plain (non-inverted) CMYK: PIL inverts every
CMYK JPEG, so the reference there is PIL's gray of 255 - the CMYK samples PIL reads.
Before the fix these decoded to a constant image. Files are generated here (64x64), none kept.
usage: test_adobe_cmyk.py GRAY_DUMP"""
import io
import os
import subprocess
import sys
import tempfile

try:
    from PIL import Image
except ImportError:
    print("PIL (python3-pil) not installed: skipped")
    sys.exit(77)

N = 64


def source_rgb():
    im = Image.new("RGB", (N, N))
    im.putdata([((x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256) for y in range(N) for x in range(N)])
    return im


def source_cmyk():
    """CMYK with real black (convert('CMYK') always leaves K = 0)."""
    im = Image.new("CMYK", (N, N))
    im.putdata([(x * 3, y * 3, (x * y) % 200, (x + y) * 2) for y in range(N) for x in range(N)])
    return im


def strip_app14(data):
    """The JPEG without its Adobe APP14 segment (walks markers up to the first scan)."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF and data[i + 1] != 0xDA:
        seg = (data[i + 2] << 8) | data[i + 3]
        if data[i + 1] == 0xEE and data[i + 4:i + 9] == b"Adobe":
            return data[:i] + data[i + 2 + seg:]
        i += 2 + seg
    raise AssertionError("no APP14 Adobe marker in PIL's CMYK JPEG")


def compare(dump, name, data, tmp, inverted):
    path = os.path.join(tmp, name + ".jpg")
    with open(path, "wb") as f:
        f.write(data)
    im = Image.open(path)
    assert im.mode == "CMYK"
    if not inverted:
        im = Image.eval(im, lambda v: 255 - v)
    ref = list(im.convert("L").getdata())
    r = subprocess.run([dump, path, str(N)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{name}: gray_dump exit {r.returncode}: {r.stderr.strip()}")
        return False
    got = [float(v) for v in r.stdout.split()]
    diff = [abs(a - b) for a, b in zip(got, ref)]
    mx, mean = max(diff), sum(diff) / len(diff)
    spread = max(ref) - min(ref)
    # the Adobe files must not be constant (the bug); plain rgb_to_cmyk (K' = 255) is black
    ok = len(got) == N * N and mx <= 2.0 and mean <= 0.5 and (spread > 50 or not inverted)
    print(f"{name}: {len(data)} bytes, cxr vs PIL gray: max {mx:.3f}, mean {mean:.4f} "
          f"(PIL range {min(ref)}..{max(ref)}, cxr range {min(got):.0f}..{max(got):.0f}) "
          f"{'ok' if ok else 'FAIL'}")
    return ok


def main():
    dump = sys.argv[1]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, im in (("rgb_to_cmyk", source_rgb().convert("CMYK")), ("cmyk_black", source_cmyk())):
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=95, subsampling=0)
            data = buf.getvalue()
            ok &= compare(dump, name + "_adobe", data, tmp, True)
            ok &= compare(dump, name + "_plain", strip_app14(data), tmp, False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
