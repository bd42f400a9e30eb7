/**
 * OpenVINO IR read in TypeScript: inputs and outputs (names through the edges, partial shapes),
 * op counts as Model.get_ordered_ops counts them, the quantisation the constants show, the
 * edgezoo rt_info; bad files are typed errors; `edgezoo inspect` opens an .xml.
 * The XML follows what ovc 2026.4 writes (see the zoo's IRs); the integration test compares
 * the reader with OpenVINO's own on real IRs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILTIN_CATALOGUE } from '../../src/catalogue/index.js';
import { inspectOpenvinoIr, looksLikeOpenvinoIr, parseOpenvinoIr } from '../../src/formats/openvino/index.js';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'edgezoo.mjs');

/** A dynamic-batch, bounded-width IR: Parameter -> Convolution(f16 weights + Convert) -> Transpose -> Result. */
function ir(options: { shape?: string; weights?: string; fakeQuantize?: boolean } = {}): string {
  const weights = options.weights ?? 'f16';
  return `<?xml version="1.0"?>
<net name="onnx_Frontend_IR" version="11">
\t<layers>
\t\t<layer id="0" name="image" type="Parameter" version="opset1">
\t\t\t<data shape="${options.shape ?? '?,3,1..64,32'}" element_type="f32" />
\t\t\t<output>
\t\t\t\t<port id="0" precision="FP32" names="image,image:0">
\t\t\t\t\t<dim>-1</dim>
\t\t\t\t\t<dim>3</dim>
\t\t\t\t\t<dim>-1</dim>
\t\t\t\t\t<dim>32</dim>
\t\t\t\t</port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="1" name="w_compressed" type="Const" version="opset1">
\t\t\t<data element_type="${weights}" shape="4,3,1,1" offset="0" size="${weights === 'f16' ? 24 : 96}" />
\t\t\t<output>
\t\t\t\t<port id="0" precision="${weights === 'f16' ? 'FP16' : 'FP32'}"><dim>4</dim><dim>3</dim><dim>1</dim><dim>1</dim></port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="2" name="w" type="Convert" version="opset1">
\t\t\t<data destination_type="f32" />
\t\t\t<input><port id="0" precision="FP16" /></input>
\t\t\t<output><port id="1" precision="FP32" /></output>
\t\t</layer>
${
  options.fakeQuantize
    ? '\t\t<layer id="7" name="fq" type="FakeQuantize" version="opset1"><data levels="256" /></layer>\n'
    : ''
}\t\t<layer id="3" name="conv" type="Convolution" version="opset1">
\t\t\t<data strides="1, 1" dilations="1, 1" pads_begin="0, 0" pads_end="0, 0" auto_pad="explicit" />
\t\t\t<input><port id="0" precision="FP32" /><port id="1" precision="FP32" /></input>
\t\t\t<output><port id="2" precision="FP32" names="conv_out" /></output>
\t\t</layer>
\t\t<layer id="4" name="perm" type="Const" version="opset1">
\t\t\t<data element_type="i64" shape="4" offset="24" size="32" />
\t\t\t<output><port id="0" precision="I64"><dim>4</dim></port></output>
\t\t</layer>
\t\t<layer id="5" name="transpose" type="Transpose" version="opset1">
\t\t\t<input><port id="0" precision="FP32" /><port id="1" precision="I64" /></input>
\t\t\t<output>
\t\t\t\t<port id="2" precision="FP32" names="features\\,nhwc">
\t\t\t\t\t<dim>-1</dim><dim>-1</dim><dim>32</dim><dim>4</dim>
\t\t\t\t</port>
\t\t\t</output>
\t\t</layer>
\t\t<layer id="6" name="features/sink_port_0" type="Result" version="opset1">
\t\t\t<input>
\t\t\t\t<port id="0" precision="FP32"><dim>-1</dim><dim>-1</dim><dim>32</dim><dim>4</dim></port>
\t\t\t</input>
\t\t</layer>
\t</layers>
\t<edges>
\t\t<edge from-layer="0" from-port="0" to-layer="3" to-port="0" />
\t\t<edge from-layer="1" from-port="0" to-layer="2" to-port="0" />
\t\t<edge from-layer="2" from-port="1" to-layer="3" to-port="1" />
\t\t<edge from-layer="3" from-port="2" to-layer="5" to-port="0" />
\t\t<edge from-layer="4" from-port="0" to-layer="5" to-port="1" />
\t\t<edge from-layer="5" from-port="2" to-layer="6" to-port="0" />
\t</edges>
\t<rt_info>
\t\t<Runtime_version value="2026.4.1-22982-e213a147257-releases/2026/4" />
\t\t<edgezoo>
\t\t\t<edgezoo.layouts value="{&quot;image&quot;:&quot;NCHW&quot;,&quot;features,nhwc&quot;:&quot;NHWC&quot;}" />
\t\t\t<edgezoo.name value="tiny" />
\t\t</edgezoo>
\t</rt_info>
</net>
`;
}

const folder = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-openvino-'));
after(() => rmSync(folder, { recursive: true, force: true }));

describe('OpenVINO IR reader', () => {
  it('reads partial shapes, names through the edges, op counts, quantisation and edgezoo rt_info', () => {
    const summary = parseOpenvinoIr(ir(), 'model.xml');
    assert.deepEqual(summary.inputs, [{ name: 'image', dtype: 'f32', shape: ['?', 3, '1..64', 32] }]);
    // The Result's tensor is named on the port feeding it; an escaped comma stays in the name.
    assert.deepEqual(summary.outputs, [{ name: 'features,nhwc', dtype: 'f32', shape: ['?', '?', 32, 4] }]);
    assert.equal(summary.opCount, 3, 'Convert, Convolution, Transpose (not Parameter, Const, Result)');
    assert.equal(summary.flags.transposeCount, 1);
    assert.equal(summary.flags.quantization, 'float16-weights');
    assert.deepEqual(summary.flags.dynamicTensors, ['image', 'features,nhwc']);
    assert.deepEqual(summary.constantBytes, { f16: 24, i64: 32 });
    assert.deepEqual(summary.edgezoo, {
      'edgezoo.layouts': '{"image":"NCHW","features,nhwc":"NHWC"}',
      'edgezoo.name': 'tiny',
    });
    assert.equal(summary.runtimeVersion, '2026.4.1-22982-e213a147257-releases/2026/4');
    assert.equal(parseOpenvinoIr(ir({ weights: 'f32' }), 'x').flags.quantization, 'float32');
    assert.equal(parseOpenvinoIr(ir({ fakeQuantize: true }), 'x').flags.quantization, 'fake-quantize');
  });

  it('recognises an IR by its first bytes and refuses what is not one', () => {
    assert.equal(looksLikeOpenvinoIr(new TextEncoder().encode(ir().slice(0, 64))), true);
    assert.equal(looksLikeOpenvinoIr(new TextEncoder().encode('<?xml version="1.0"?>\n<svg>')), false);
    assert.throws(() => parseOpenvinoIr('<?xml version="1.0"?><svg/>', 'a.xml'), {
      code: 'OPENVINO_INVALID',
      message: 'a.xml: no <net> root element; not an OpenVINO IR .xml',
    });
    assert.throws(() => parseOpenvinoIr('<net><layers><layer id="0"', 'b.xml'), { code: 'OPENVINO_INVALID' });
  });

  it('measures the .bin beside the .xml, and is the catalogue format of .xml files', async () => {
    const xml = path.join(folder, 'model.xml');
    writeFileSync(xml, ir());
    writeFileSync(path.join(folder, 'model.bin'), new Uint8Array(56));
    const summary = await inspectOpenvinoIr(xml);
    assert.deepEqual(summary.weights, { file: path.join(folder, 'model.bin'), bytes: 56 });
    assert.equal(BUILTIN_CATALOGUE.requireFormat('openvino').extensions[0], '.xml');
  });

  it('edgezoo inspect prints an IR, and --json gives the summary', () => {
    const xml = path.join(folder, 'model.xml');
    const human = spawnSync(process.execPath, [cli, 'inspect', xml], { encoding: 'utf8' });
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /^format: OpenVINO IR \(version 11\), \d+ bytes of XML, 56 bytes of weights/m);
    assert.match(human.stdout, /^ {2}image: f32 \[\?, 3, 1\.\.64, 32\]$/m);
    assert.match(human.stdout, /^ops: 3 \(Convert 1, Convolution 1, Transpose 1\)$/m);
    const json = spawnSync(process.execPath, [cli, 'inspect', '--json', xml], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { format: string }).format, 'openvino');
  });
});
