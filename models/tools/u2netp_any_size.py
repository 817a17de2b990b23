#!/usr/bin/env python3
"""Let U²-Net-p take any input size, unchanged otherwise.

rembg's u2netp.onnx declares its input as [1, 3, 320, 320], but the network is
fully convolutional and its upsampling follows the skip connections' shapes, so
it runs at other sizes. The sorting station cuts items out of small crops at
160x160, where it is 3.5x faster than at 320 (measured with onnxruntime 1.32,
2 threads: 76 ms vs 270 ms) and still gives clean masks of a single item.

Only the declared spatial dimensions of the input and outputs become symbolic
("height", "width"), and stale intermediate shape annotations are dropped; the
weights and operators are untouched. Deterministic for a given onnx version.

Usage: u2netp_any_size.py U2NETP.onnx OUTPUT.onnx
"""
import sys

import onnx


def main(src, dst):
    model = onnx.load(src)
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            continue
        for d, name in zip(dims[2:], ("height", "width")):
            d.ClearField("dim_value")
            d.dim_param = name
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
