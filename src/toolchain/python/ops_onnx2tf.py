"""onnx2tf 1.29 ("tf" env): ONNX -> SavedModel + TFLite fp32/fp16 (+ dynamic-range, integer).

Traps handled here:
- onnx2tf simplifies its input file in place: it gets a copy in a private work folder.
- For models whose inputs are all 3-channel images (and for integer quantization without
  calibration data) it reads calibration_image_sample_data_20x128x128x3_float32.npy from the
  working directory and downloads it from GitHub when missing: the op writes that file first and
  runs onnx2tf with that folder as working directory.
- Integer quantization without explicit calibration data would use that sample file: refused
  (CALIBRATION_MISSING).
- It starts `onnxsim` by name: worker.py puts the venv's bin first on PATH.
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile

from registry import OpError, op, unsupported_ops

SAMPLE_NAME = "calibration_image_sample_data_20x128x128x3_float32.npy"


def _sample_images(calibration):
    """20x128x128x3 float32 in [0,1]: from the first calibration array that is a batch of
    3-channel NHWC images (nearest-neighbour resize), else deterministic noise."""
    import numpy as np

    for entry in calibration or []:
        a = np.load(entry["npy"], mmap_mode="r")
        if a.ndim == 4 and a.shape[-1] == 3 and len(a) > 0:
            ys = np.arange(128) * a.shape[1] // 128
            xs = np.arange(128) * a.shape[2] // 128
            idx = np.arange(20) % len(a)
            out = np.asarray(a[idx])[:, ys][:, :, xs].astype(np.float32)
            return np.clip(out, 0.0, 1.0)
    return np.random.default_rng(20).random((20, 128, 128, 3), dtype=np.float32)


def _reset_keras_names():
    """Keras numbers layer and tensor names per process (`tf.math.add_3`), and those names end up
    in the .tflite: in a long-lived worker a model's bytes depended on what it converted before,
    so a shard and a one-machine build made different files for one fingerprint. Clearing the
    session before each conversion makes every conversion start from the same counters (verified:
    the second conversion in one worker then equals a fresh process's)."""
    import tensorflow as tf

    tf.keras.backend.clear_session()
    try:
        import tf_keras
    except ImportError:
        return
    tf_keras.backend.clear_session()


def _array(value):
    import numpy as np

    if isinstance(value, str):
        value = ast.literal_eval(value)
    return np.asarray(value, dtype=np.float32)


@op("onnx2tf.convert")
def onnx2tf_convert(
    model,
    outputDir,
    name=None,
    dynamicRangeQuant=False,
    integerQuant=False,
    quantType="per-channel",
    inputQuantDtype="int8",
    outputQuantDtype="int8",
    calibration=None,
    batchSize=None,
    overwriteInputShape=None,
    paramReplacementFile=None,
    notUseOnnxsim=False,
    keepNchwInputNames=None,
    keepShapeAbsolutelyInputNames=None,
    verbosity="error",
    options=None,
):
    """calibration: [{"input": name, "npy": path (NHWC for images, float32 in [0,1]),
    "mean": [[[[...]]]] | "[[[[...]]]]", "std": ...}] (mean/std optional, together).
    Writes <name>_float32.tflite and <name>_float16.tflite (+ _dynamic_range_quant,
    + _integer_quant, _full_integer_quant, _integer_quant_with_int16_act,
    _full_integer_quant_with_int16_act) and a SavedModel into outputDir."""
    if integerQuant and not calibration:
        raise OpError(
            "CALIBRATION_MISSING", "integerQuant needs calibration data: without it onnx2tf downloads sample images"
        )
    import onnx2tf

    out_dir = os.path.abspath(outputDir)
    os.makedirs(out_dir, exist_ok=True)
    base = name or os.path.splitext(os.path.basename(model))[0]
    before = set(os.listdir(out_dir))
    cind = None
    if calibration:
        cind = []
        for entry in calibration:
            item = [entry["input"], os.path.abspath(entry["npy"])]
            if entry.get("mean") is not None:
                item += [_array(entry["mean"]), _array(entry["std"])]
            cind.append(item)
    with tempfile.TemporaryDirectory(prefix="edgezoo-onnx2tf-") as work:
        import numpy as np

        np.save(os.path.join(work, SAMPLE_NAME), _sample_images(calibration))
        copy = os.path.join(work, base + ".onnx")
        shutil.copyfile(model, copy)
        kwargs = dict(
            input_onnx_file_path=copy,
            output_folder_path=out_dir,
            output_dynamic_range_quantized_tflite=bool(dynamicRangeQuant),
            output_integer_quantized_tflite=bool(integerQuant),
            quant_type=quantType,
            input_quant_dtype=inputQuantDtype,
            output_quant_dtype=outputQuantDtype,
            custom_input_op_name_np_data_path=cind,
            not_use_onnxsim=bool(notUseOnnxsim),
            verbosity=verbosity,
        )
        if batchSize is not None:
            kwargs["batch_size"] = int(batchSize)
        if overwriteInputShape:
            kwargs["overwrite_input_shape"] = list(overwriteInputShape)
        if paramReplacementFile:
            kwargs["param_replacement_file"] = os.path.abspath(paramReplacementFile)
        if keepNchwInputNames:
            kwargs["keep_ncw_or_nchw_or_ncdhw_input_names"] = list(keepNchwInputNames)
        if keepShapeAbsolutelyInputNames:
            kwargs["keep_shape_absolutely_input_names"] = list(keepShapeAbsolutelyInputNames)
        kwargs.update(options or {})
        _reset_keras_names()
        cwd = os.getcwd()
        os.chdir(work)
        try:
            onnx2tf.convert(**kwargs)
        except ModuleNotFoundError as error:
            # onnx2tf imports onnx2tf.ops.<OpType> for each node: a missing module is an op it lacks.
            if not (error.name or "").startswith("onnx2tf.ops."):
                raise
            op_type = error.name.rsplit(".", 1)[1]
            raise unsupported_ops(model, [op_type], f"ModuleNotFoundError: {error}") from error
        finally:
            os.chdir(cwd)
    files = sorted(f for f in os.listdir(out_dir) if f.endswith(".tflite"))
    return {
        "outputDir": out_dir,
        "tflite": {
            f[len(base) + 1 : -len(".tflite")]: os.path.join(out_dir, f) for f in files if f.startswith(base + "_")
        },
        "savedModel": os.path.exists(os.path.join(out_dir, "saved_model.pb")),
        "new": sorted(set(os.listdir(out_dir)) - before),
    }
