/** The Python environments the backends and runtimes run in (their locks: src/toolchain/envs/<name>.lock). */
import type { EnvSpec } from './types.js';

export const tfEnv: EnvSpec = {
  name: 'tf',
  purpose: 'onnx2tf + TensorFlow 2.19, onnxruntime quantization, onnxslim, onnxconverter-common, tf2onnx, OpenVINO ovc',
  requires: [
    { env: 'tf', distribution: 'numpy', probes: [] },
    { env: 'tf', distribution: 'protobuf', probes: [] },
    // Image samples are decoded with Pillow in the worker.
    { env: 'tf', distribution: 'pillow', probes: [{ import: 'PIL.Image' }] },
  ],
};

export const torchEnv: EnvSpec = {
  name: 'torch',
  purpose: 'torch 2.13 (CPU), torch.onnx export, litert-torch (PyTorch -> TFLite, PT2E int8)',
  requires: [
    { env: 'torch', distribution: 'numpy', probes: [] },
    { env: 'torch', distribution: 'protobuf', probes: [] },
    { env: 'torch', distribution: 'pillow', probes: [{ import: 'PIL.Image' }] },
  ],
};
