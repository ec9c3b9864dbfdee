"""Judges for tests/pages.rs, from outside the project's code.

  metrics   reads Prometheus' text exposition format on standard input with the Prometheus
            project's own parser (prometheus_client) and prints its samples as JSON:
            [[name, {label: value}, value], ...]. A text the parser refuses fails.
  qr FILE   reads the inline SVG the install page carries (dark modules drawn as rectangles
            `M x y h w v h H x V y`, on a white square), draws it into a grayscale image and
            decodes it with ZXing (zxing-cpp); prints the text of the one QR code found.
"""

import json
import re
import sys


def metrics():
    from prometheus_client.parser import text_string_to_metric_families

    samples = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        for sample in family.samples:
            samples.append([sample.name, sample.labels, sample.value])
    json.dump(samples, sys.stdout)


def qr(path):
    import zxingcpp

    svg = open(path, encoding="utf-8").read()
    size = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    width, height = int(size.group(1)), int(size.group(2))
    # Two pixels a unit, white everywhere but the rectangles of the dark path.
    scale = 2
    w, h = width * scale, height * scale
    pixels = bytearray([255]) * (w * h)
    path_data = re.search(r'<path[^>]* d="([^"]*)"', svg).group(1)
    rects = re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)H\d+V\d+", path_data)
    if not rects or "".join("M%s %sh%sv%sH%sV%s" % (x, y, rw, rh, x, y) for x, y, rw, rh in rects) != path_data:
        sys.exit("the SVG's path is not a list of rectangles: " + path_data[:80])
    for x, y, rw, rh in rects:
        x, y, rw, rh = (int(v) * scale for v in (x, y, rw, rh))
        for row in range(y, y + rh):
            pixels[row * w + x : row * w + x + rw] = bytes(rw)
    image = memoryview(pixels).cast("B", shape=[h, w])
    codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    if len(codes) != 1:
        sys.exit("found %d QR codes" % len(codes))
    print(codes[0].text)


if __name__ == "__main__":
    if sys.argv[1:] == ["metrics"]:
        metrics()
    elif len(sys.argv) == 3 and sys.argv[1] == "qr":
        qr(sys.argv[2])
    else:
        sys.exit(__doc__)
