"""MTCNN's proposal network (PNet), written for edgezoo to load facenet-pytorch's `pnet.pt`.

The layer names and shapes follow the state dict shipped in facenet-pytorch 2.6.0
(`facenet_pytorch/data/pnet.pt`), so `load_state_dict` is strict. The package itself is not
imported: it pulls in torchvision, which the converter environment does not have.

PNet is fully convolutional: every output cell scores one 12x12 window (stride 2) of the input.
Input: RGB image NCHW, normalised as (pixel - 127.5) / 128 (the recipe fixes its size).
Outputs: box regression (1x4xH'xW') and face probability (1x2xH'xW' softmax over channels).
"""

import torch
from torch import nn


def max_pool_ceil(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Max pooling with Caffe's ceil rounding (what MTCNN was trained with), written as an edge
    copy of the last rows/columns plus floor pooling. Same values as
    nn.MaxPool2d(ceil_mode=True), but converters keep it exact: onnx2tf lowers a ceil-mode MaxPool
    to a zero PAD + MAX_POOL_2D, which turns negative maxima at the border into 0."""
    for axis in (2, 3):
        size = x.shape[axis]
        outputs = -(-(size - kernel) // stride) + 1
        missing = (outputs - 1) * stride + kernel - size
        if missing > 0:
            edge = x.narrow(axis, size - 1, 1)
            x = torch.cat([x] + [edge] * missing, dim=axis)
    return nn.functional.max_pool2d(x, kernel, stride)


class PNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor):
        x = max_pool_ceil(self.prelu1(self.conv1(x)), 2, 2)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        probability = self.softmax4_1(self.conv4_1(x))
        box = self.conv4_2(x)
        return box, probability


def build() -> nn.Module:
    """An untrained PNet; edgezoo loads the package's state dict into it."""
    return PNet()
