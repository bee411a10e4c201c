"""PyTorch -> pyfwd -> ONNX -> onnxruntime, and PyTorch's own ONNX export -> pyfwd.

1. Train a small PyTorch MLP (784-64-32-10: Linear, GELU, Linear, SiLU, Linear,
   Softmax) for four epochs on the 5,000 bundled MNIST training digits.
2. Import it with Network.from_torch; compare pyfwd (every backend) with
   PyTorch's own forward on the 1,000 test digits.
3. Export the pyfwd network with net.to_onnx, run the file in onnxruntime,
   read it back with Network.from_onnx (identical parameters).
4. Export the PyTorch model with torch.onnx.export and import that file too.

    python examples/03_torch_onnx_roundtrip.py [OUTPUT_DIR]

Offline, well under a minute. The .onnx files go to OUTPUT_DIR (default
./pyfwd_examples_out). Needs pip install "pyfwd[interop]" (torch, onnx, onnxruntime).
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

import pyfwd
from pyfwd.datasets import load_mnist


def max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main(out_dir: Path) -> None:
    try:
        import onnxruntime as ort
        import torch
        from torch import nn
    except ImportError as exc:
        sys.exit(f'{exc}: this example needs PyTorch, onnx and onnxruntime: pip install "pyfwd[interop]"')
    out_dir.mkdir(parents=True, exist_ok=True)
    (X_train, y_train), (X_test, y_test) = load_mnist()

    # -- 1. a small PyTorch model, trained briefly ------------------------------
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.GELU(), nn.Linear(64, 32), nn.SiLU(),
                          nn.Linear(32, 10), nn.Softmax(dim=-1))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    Xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train)
    for _ in range(4):
        for idx in torch.randperm(len(Xt)).split(100):
            probs = model(Xt[idx])
            loss = nn.functional.nll_loss(torch.log(probs + 1e-12), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(X_test)).numpy()
    print(f"PyTorch test accuracy: {np.mean(ref.argmax(1) == y_test):.4f}")

    # -- 2. into pyfwd ---------------------------------------------------------
    net = pyfwd.Network.from_torch(model)
    print(f"from_torch: {net}")
    for backend in pyfwd.backends():
        y = net.forward(X_test, backend=backend)
        print(f"backend {backend}: accuracy {np.mean(y.argmax(1) == y_test):.4f}, "
              f"max |diff| vs PyTorch {max_diff(y, ref):.3g}")

    # -- 3. pyfwd -> ONNX -> onnxruntime, and back ------------------------------
    path = out_dir / "03_pyfwd_export.onnx"
    net.to_onnx(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y_ort = sess.run(None, {"input": X_test})[0]
    y_pyfwd = net.forward(X_test)
    print(f"\nwrote {path}")
    print(f"onnxruntime on pyfwd's export: accuracy {np.mean(y_ort.argmax(1) == y_test):.4f}, "
          f"max |diff| vs pyfwd {max_diff(y_ort, y_pyfwd):.3g}")
    back = pyfwd.Network.from_onnx(path)
    same = all(np.array_equal(a, b) for a, b in zip(back.weights + back.biases, net.weights + net.biases))
    print(f"from_onnx(pyfwd's export): {back.activations}, parameters identical: {same}")

    # -- 4. PyTorch's own ONNX export -> pyfwd -----------------------------------
    # torch >= 2.9 defaults to the dynamo exporter, which needs onnxscript; the
    # TorchScript exporter (dynamo=False) needs nothing more, but warns that it
    # is deprecated.
    tpath = out_dir / "03_torch_export.onnx"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 784),), str(tpath), dynamo=False, opset_version=20,
                          input_names=["x"], output_names=["probs"],
                          dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}})
    from_torch_onnx = pyfwd.Network.from_onnx(tpath)
    y2 = from_torch_onnx.forward(X_test)
    print(f"\nwrote {tpath}")
    print(f"from_onnx(torch.onnx.export): {from_torch_onnx.activations}, "
          f"max |diff| vs PyTorch {max_diff(y2, ref):.3g}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="pyfwd_examples_out", type=Path)
    main(parser.parse_args().out_dir)
