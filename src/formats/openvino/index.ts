/** OpenVINO IR in TypeScript: read and summarise the `.xml` of an IR (see ./ir.ts). */
export {
  MAX_IR_XML_BYTES,
  OpenvinoFormatError,
  formatOpenvinoSummary,
  inspectOpenvinoIr,
  looksLikeOpenvinoIr,
  parseOpenvinoIr,
  type OpenvinoQuantizationKind,
  type OpenvinoSummary,
  type OpenvinoTensorSignature,
} from './ir.js';
