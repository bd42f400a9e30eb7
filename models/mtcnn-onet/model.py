"""MTCNN's output network (ONet), written for edgezoo to load facenet-pytorch's `onet.pt`.

The layer names and shapes follow the state dict shipped in facenet-pytorch 2.6.0
(`facenet_pytorch/data/onet.pt`), so `load_state_dict` is strict. The package itself is not
imported: it pulls in torchvision, which the converter environment does not have.

Input: 1x3x48x48 RGB face crops, NCHW, normalised as (pixel - 127.5) / 128.
Outputs: box regression (1x4), five facial landmarks (1x10: x1..x5 then y1..y5, relative to
the crop) and face probability (1x2 softmax: [not face, face]).
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


class ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor):
        x = max_pool_ceil(self.prelu1(self.conv1(x)), 3, 2)
        x = max_pool_ceil(self.prelu2(self.conv2(x)), 3, 2)
        x = max_pool_ceil(self.prelu3(self.conv3(x)), 2, 2)
        x = self.prelu4(self.conv4(x))
        # The weights were ported from Caffe, whose feature maps are stored width-first: the
        # dense layer expects the 3x3x128 map flattened in (W, H, C) order.
        x = x.permute(0, 3, 2, 1).contiguous().flatten(1)
        x = self.prelu5(self.dense5(x))
        probability = self.softmax6_1(self.dense6_1(x))
        box = self.dense6_2(x)
        landmarks = self.dense6_3(x)
        return box, landmarks, probability


def build() -> nn.Module:
    """An untrained ONet; edgezoo loads the package's state dict into it."""
    return ONet()
