#!/usr/bin/env python3
"""test_cmyk.py (pack.cmyk): CMYK and YCCK JPEGs, with the Adobe APP14 marker (inverted samples,
as Photoshop, ImageMagick and PIL write them) and without it (plain samples), made at test time
with libjpeg's API by jpeg_make (tests/pack/jpeg_make.c: 16x16 flat blocks of 16 gray levels at
quality 100, which JPEG stores exactly), go through cxr-pack and must come out as exactly the
image cxr-pack makes of the grayscale JPEG of the same levels (tolerance 0: every value equal).
A decoder that ignored the marker would invert them (and the old one made them constant).
No YCCK file without the marker: only the marker's transform flag says a 4-channel JPEG is
YCCK, so without it every decoder (libjpeg, PIL) reads the YCC samples as CMYK.

usage: test_cmyk.py CXR_PACK STORE_DUMP JPEG_MAKE   (exit 0 pass, 1 fail)
"""
import array
import os
import subprocess
import sys
import tempfile

PACK, DUMP, JMAKE = sys.argv[1:4]
NAMES = ["cmyk_adobe.jpg", "cmyk_plain.jpg", "gray.jpg", "ycck_adobe.jpg"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def main():
    with tempfile.TemporaryDirectory(prefix="cxr_cmyk_") as tmp:
        root = os.path.join(tmp, "src")
        for split in ("train", "test"):
            os.makedirs(os.path.join(root, split, "X"))
        src = os.path.join(root, "train", "X")
        r = subprocess.run([JMAKE, "cmyk", src])
        check(r.returncode == 0, "jpeg_make cmyk")
        os.link(os.path.join(src, "gray.jpg"), os.path.join(root, "test", "X", "gray.jpg"))
        out = os.path.join(tmp, "s.h5")
        # global equalization keeps the 16 flat levels 16 levels (checked below); CLAHE, the
        # default, blends tile mappings across the blocks
        p = subprocess.run([PACK, root, "-o", out, "--strict", "--equalize", "global"],
                           capture_output=True, text=True)
        check(p.returncode == 0, "pack rc=%d %s" % (p.returncode, p.stderr))
        raw = os.path.join(tmp, "train.f32")
        d = subprocess.run([DUMP, out, "train", raw], capture_output=True, text=True)
        check(d.returncode == 0, "store_dump: %s" % d.stderr)
        paths = [l.split(" ", 3)[3] for l in d.stdout.splitlines() if l.startswith("label ")]
        check(paths == ["train/X/" + n for n in NAMES], "packed in name order: %s" % paths)
        a = array.array("f")
        a.frombytes(open(raw, "rb").read())
        n = 256 * 256
        img = {name: a[i * n:(i + 1) * n] for i, name in enumerate(NAMES)}
        gray = img["gray.jpg"]
        levels = sorted(set(gray))
        check(len(levels) == 16 and levels[0] == -1.0 and levels[-1] == 1.0,
              "the gray image has 16 levels spanning [-1, 1]: %s" % levels)
        for name in NAMES:
            diff = max(abs(x - y) for x, y in zip(img[name], gray))
            print("%-15s max |diff| vs gray.jpg: %g" % (name, diff))
            check(diff == 0.0, "%s decodes to the gray image (max |diff| %g)" % (name, diff))
        # the pixel hashes agree too: the four files and the test copy are one image for duplicate detection
        dup = [l for l in p.stderr.splitlines() if l.startswith("cxr-pack: duplicates:")]
        check(dup and "identical pixels: 1 groups, 4 extra copies" in dup[0], "one pixel group: %s" % dup)
    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
