#!/usr/bin/env python3
"""Run Python rapidocr on pictures, for `edge-agent bench-intake --rapidocr`.

    rapidocr_bench.py MODELS_DIR OUT.json IMAGE...

Uses the same three PP-OCR model files as the agent (rapidocr's own defaults,
RapidOCR(params=...) with their paths), warms up on the first picture, then
times each picture (decode included, as the agent's figure includes it).
Writes [{"image", "ms", "lines": [{"text", "score", "quad"}]}].
"""
import json
import sys
import time
from pathlib import Path


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    models, out, images = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    from rapidocr import RapidOCR

    engine = RapidOCR(
        params={
            "Det.model_path": str(models / "ppocr-v6-det" / "PP-OCRv6_det_small.onnx"),
            "Cls.model_path": str(models / "ppocr-cls" / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
            "Rec.model_path": str(models / "ppocr-v6-rec" / "PP-OCRv6_rec_small.onnx"),
            "Global.log_level": "error",
        }
    )
    engine(images[0])  # load the models lazily before timing
    results = []
    for path in images:
        start = time.perf_counter()
        r = engine(path)
        ms = (time.perf_counter() - start) * 1e3
        lines = []
        if r.boxes is not None:
            for box, text, score in zip(r.boxes, r.txts, r.scores):
                lines.append({"text": text, "score": float(score), "quad": [[float(x), float(y)] for x, y in box]})
        results.append({"image": path, "ms": ms, "lines": lines})
    out.write_text(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
