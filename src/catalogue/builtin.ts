/**
 * The built-in catalogue: every format, converter backend and environment edgezoo ships.
 * To add a format or a converter, write its descriptor (a FormatSpec in ./formats/, a
 * BackendSpec in src/toolchain/backends/ with its Python op module in src/toolchain/python/)
 * and list it here; see ARCHITECTURE.md.
 */
import { litertTorchBackend } from '../toolchain/backends/litert-torch.js';
import { onnx2tfBackend } from '../toolchain/backends/onnx2tf.js';
import { onnxPrepareBackend } from '../toolchain/backends/onnx-prepare.js';
import { onnxFp32Backend, onnxruntimeQuantizeBackend } from '../toolchain/backends/onnx-quantize.js';
import { nncfBackend } from '../toolchain/backends/nncf.js';
import { ovcBackend } from '../toolchain/backends/ovc.js';
import { torchOnnxBackend } from '../toolchain/backends/pytorch-onnx.js';
import { tf2onnxBackend } from '../toolchain/backends/tf2onnx.js';
import { Catalogue } from './catalogue.js';
import { tfEnv, torchEnv } from './envs.js';
import { onnxFormat } from './formats/onnx.js';
import { openvinoFormat } from './formats/openvino.js';
import { tfliteFormat } from './formats/tflite.js';

export const BUILTIN_CATALOGUE = new Catalogue({
  // Plans and tables list formats in this order.
  formats: [onnxFormat, tfliteFormat, openvinoFormat],
  backends: [
    torchOnnxBackend,
    tf2onnxBackend,
    onnxPrepareBackend,
    onnxFp32Backend,
    onnxruntimeQuantizeBackend,
    onnx2tfBackend,
    litertTorchBackend,
    ovcBackend,
    nncfBackend,
  ],
  envs: [tfEnv, torchEnv],
});
