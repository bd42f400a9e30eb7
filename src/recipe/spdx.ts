/**
 * SPDX license ids and expressions, checked offline. The list holds the licenses models and
 * their code are actually published under (plus the common ones of the SPDX list); anything
 * else can be named `LicenseRef-<name>` with its text in `license_file`.
 */
import { nearest } from './suggest.js';

/** Common SPDX license ids (SPDX License List 3.x), canonical case. */
export const SPDX_LICENSE_IDS: readonly string[] = [
  '0BSD',
  'AFL-3.0',
  'AGPL-1.0-only',
  'AGPL-1.0-or-later',
  'AGPL-3.0-only',
  'AGPL-3.0-or-later',
  'Apache-1.0',
  'Apache-1.1',
  'Apache-2.0',
  'APSL-2.0',
  'Artistic-1.0',
  'Artistic-2.0',
  'Beerware',
  'BlueOak-1.0.0',
  'BSD-1-Clause',
  'BSD-2-Clause',
  'BSD-2-Clause-Patent',
  'BSD-3-Clause',
  'BSD-3-Clause-Clear',
  'BSD-3-Clause-LBNL',
  'BSD-3-Clause-No-Nuclear-License',
  'BSD-3-Clause-No-Nuclear-Warranty',
  'BSD-4-Clause',
  'BSD-Source-Code',
  'BSL-1.0',
  'BUSL-1.1',
  'bzip2-1.0.6',
  'CAL-1.0',
  'CC-BY-1.0',
  'CC-BY-2.0',
  'CC-BY-2.5',
  'CC-BY-3.0',
  'CC-BY-4.0',
  'CC-BY-NC-1.0',
  'CC-BY-NC-2.0',
  'CC-BY-NC-2.5',
  'CC-BY-NC-3.0',
  'CC-BY-NC-4.0',
  'CC-BY-NC-ND-3.0',
  'CC-BY-NC-ND-4.0',
  'CC-BY-NC-SA-2.0',
  'CC-BY-NC-SA-3.0',
  'CC-BY-NC-SA-4.0',
  'CC-BY-ND-3.0',
  'CC-BY-ND-4.0',
  'CC-BY-SA-2.0',
  'CC-BY-SA-2.5',
  'CC-BY-SA-3.0',
  'CC-BY-SA-4.0',
  'CC-PDDC',
  'CC0-1.0',
  'CDDL-1.0',
  'CDDL-1.1',
  'CDLA-Permissive-1.0',
  'CDLA-Permissive-2.0',
  'CDLA-Sharing-1.0',
  'CECILL-2.1',
  'CECILL-B',
  'CECILL-C',
  'ClArtistic',
  'CNRI-Python',
  'CPAL-1.0',
  'CPL-1.0',
  'CUA-OPL-1.0',
  'curl',
  'ECL-2.0',
  'EFL-2.0',
  'EPL-1.0',
  'EPL-2.0',
  'EUPL-1.1',
  'EUPL-1.2',
  'FSFAP',
  'FSFUL',
  'FSFULLR',
  'FTL',
  'GFDL-1.2-only',
  'GFDL-1.2-or-later',
  'GFDL-1.3-only',
  'GFDL-1.3-or-later',
  'GPL-1.0-only',
  'GPL-1.0-or-later',
  'GPL-2.0-only',
  'GPL-2.0-or-later',
  'GPL-3.0-only',
  'GPL-3.0-or-later',
  'HPND',
  'ICU',
  'IJG',
  'ImageMagick',
  'Info-ZIP',
  'Intel',
  'IPA',
  'IPL-1.0',
  'ISC',
  'JasPer-2.0',
  'JSON',
  'LGPL-2.0-only',
  'LGPL-2.0-or-later',
  'LGPL-2.1-only',
  'LGPL-2.1-or-later',
  'LGPL-3.0-only',
  'LGPL-3.0-or-later',
  'LGPLLR',
  'Libpng',
  'libpng-2.0',
  'libtiff',
  'LiLiQ-P-1.1',
  'LPL-1.02',
  'LPPL-1.3c',
  'MirOS',
  'MIT',
  'MIT-0',
  'MIT-CMU',
  'MIT-Modern-Variant',
  'MIT-advertising',
  'MIT-enna',
  'MIT-feh',
  'MITNFA',
  'MPL-1.0',
  'MPL-1.1',
  'MPL-2.0',
  'MPL-2.0-no-copyleft-exception',
  'MS-PL',
  'MS-RL',
  'MulanPSL-2.0',
  'NCSA',
  'Naumen',
  'NGPL',
  'NLOD-1.0',
  'NLOD-2.0',
  'NPL-1.1',
  'NTP',
  'OpenSSL',
  'ODbL-1.0',
  'ODC-By-1.0',
  'OFL-1.0',
  'OFL-1.1',
  'OGL-UK-3.0',
  'OLDAP-2.8',
  'OpenRAIL',
  'OPL-1.0',
  'OSL-1.0',
  'OSL-2.0',
  'OSL-2.1',
  'OSL-3.0',
  'PDDL-1.0',
  'PHP-3.0',
  'PHP-3.01',
  'PostgreSQL',
  'PSF-2.0',
  'Python-2.0',
  'Python-2.0.1',
  'QPL-1.0',
  'RPL-1.5',
  'RPSL-1.0',
  'Ruby',
  'SGI-B-2.0',
  'SISSL',
  'Sleepycat',
  'SMLNJ',
  'SPL-1.0',
  'SSPL-1.0',
  'TCL',
  'UCL-1.0',
  'Unicode-3.0',
  'Unicode-DFS-2015',
  'Unicode-DFS-2016',
  'Unlicense',
  'UPL-1.0',
  'Vim',
  'W3C',
  'W3C-20150513',
  'WTFPL',
  'X11',
  'XFree86-1.1',
  'Xnet',
  'xpp',
  'Zed',
  'Zend-2.0',
  'Zlib',
  'zlib-acknowledgement',
  'ZPL-2.0',
  'ZPL-2.1',
];

/** Common SPDX exception ids, for `<license> WITH <exception>`. */
export const SPDX_EXCEPTION_IDS: readonly string[] = [
  '389-exception',
  'Autoconf-exception-2.0',
  'Autoconf-exception-3.0',
  'Bison-exception-2.2',
  'Bootloader-exception',
  'Classpath-exception-2.0',
  'FLTK-exception',
  'Font-exception-2.0',
  'GCC-exception-2.0',
  'GCC-exception-3.1',
  'GPL-CC-1.0',
  'LGPL-3.0-linking-exception',
  'Libtool-exception',
  'Linux-syscall-note',
  'LLVM-exception',
  'OCaml-LGPL-linking-exception',
  'OpenJDK-assembly-exception-1.0',
  'Qt-GPL-exception-1.0',
  'Qt-LGPL-exception-1.1',
  'Swift-exception',
  'u-boot-exception-2.0',
  'WxWindows-exception-3.1',
];

const licenseIds = new Set(SPDX_LICENSE_IDS);
const exceptionIds = new Set(SPDX_EXCEPTION_IDS);
const LICENSE_REF = /^(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/;
// Deprecated ids people still write; SPDX replaced them with explicit -only / -or-later forms.
const DEPRECATED: Readonly<Record<string, string>> = {
  'GPL-2.0': 'GPL-2.0-only',
  'GPL-2.0+': 'GPL-2.0-or-later',
  'GPL-3.0': 'GPL-3.0-only',
  'GPL-3.0+': 'GPL-3.0-or-later',
  'LGPL-2.1': 'LGPL-2.1-only',
  'LGPL-2.1+': 'LGPL-2.1-or-later',
  'LGPL-3.0': 'LGPL-3.0-only',
  'LGPL-3.0+': 'LGPL-3.0-or-later',
  'AGPL-3.0': 'AGPL-3.0-only',
  'GPL-1.0': 'GPL-1.0-only',
  'LGPL-2.0': 'LGPL-2.0-only',
};

/**
 * Checks an SPDX license expression (`MIT`, `Apache-2.0 OR MIT`, `GPL-2.0-or-later WITH
 * Classpath-exception-2.0`, `(MIT AND BSD-3-Clause)`, `LicenseRef-my-model`). Returns undefined
 * when valid, else one sentence saying what is wrong (with the nearest known id when there is one).
 */
export function checkSpdxExpression(expression: string): string | undefined {
  const tokens = expression.match(/\(|\)|[^\s()]+/g) ?? [];
  if (tokens.length === 0) return 'expected an SPDX license id such as Apache-2.0 or MIT';
  let index = 0;
  const peek = (): string | undefined => tokens[index];

  // Recursive descent over: expr := term (OR term)*; term := factor (AND factor)*;
  // factor := '(' expr ')' | license ['+'] [WITH exception].
  const parseExpression = (): string | undefined => {
    let problem = parseTerm();
    while (problem === undefined && peek() === 'OR') {
      index++;
      problem = parseTerm();
    }
    return problem;
  };
  const parseTerm = (): string | undefined => {
    let problem = parseFactor();
    while (problem === undefined && peek() === 'AND') {
      index++;
      problem = parseFactor();
    }
    return problem;
  };
  const parseFactor = (): string | undefined => {
    const token = peek();
    if (token === undefined) return 'the expression ends too early; expected a license id after AND/OR/WITH';
    if (token === '(') {
      index++;
      const problem = parseExpression();
      if (problem !== undefined) return problem;
      if (peek() !== ')') return 'expected ")" to close "("';
      index++;
      return undefined;
    }
    index++;
    const problem = checkLicenseId(token);
    if (problem !== undefined) return problem;
    if (peek() === 'WITH') {
      index++;
      const exception = peek();
      if (exception === undefined) return 'expected an exception id after WITH';
      index++;
      if (!exceptionIds.has(exception)) {
        const suggestion = nearest(exception, SPDX_EXCEPTION_IDS, { ignoreCase: true });
        return `unknown SPDX exception "${exception}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
      }
    }
    return undefined;
  };

  const problem = parseExpression();
  if (problem !== undefined) return problem;
  if (index < tokens.length) {
    const extra = tokens[index] ?? '';
    if (/^(and|or|with)$/i.test(extra)) return `SPDX operators are upper-case: write "${extra.toUpperCase()}"`;
    return `unexpected "${extra}"; join licenses with AND, OR or WITH`;
  }
  return undefined;
}

function checkLicenseId(token: string): string | undefined {
  if (licenseIds.has(token) || LICENSE_REF.test(token)) return undefined;
  if (token.endsWith('+') && licenseIds.has(token.slice(0, -1))) return undefined;
  const replacement = DEPRECATED[token];
  if (replacement !== undefined)
    return (
      `"${token}" is a deprecated SPDX id; use "${replacement}"` +
      (token.endsWith('+') ? '' : ' (or the -or-later form)')
    );
  if (/^(AND|OR|WITH)$/.test(token)) return `expected a license id, received the operator ${token}`;
  const suggestion = nearest(token, SPDX_LICENSE_IDS, { ignoreCase: true });
  return (
    `unknown SPDX license id "${token}"` +
    (suggestion
      ? `; did you mean "${suggestion}"?`
      : '; use an id from https://spdx.org/licenses/ or LicenseRef-<name>')
  );
}
