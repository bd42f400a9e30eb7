/**
 * The zero-dependency pull clients published with every zoo (pull.mjs for Node >= 18, pull.py
 * for Python >= 3.9), with the zoo's index URL and public key filled in when the publisher
 * knows them, so `python3 pull.py MODEL` works as downloaded.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { toolRoot } from '../paths.js';

export const CLIENT_FILES = ['pull.mjs', 'pull.py'] as const;

const CLIENTS_DIR = path.join(toolRoot, 'src', 'publish', 'clients');

export interface ClientDefaults {
  /** The published index.json's URL, when known (GitHub; a folder published with --site-url). */
  indexUrl?: string;
  /** The key index.json.sig is made with: its public half becomes the clients' default. */
  signingKey?: KeyObject;
}

/** Each client's bytes with the defaults filled in. */
export async function renderPullClients(defaults: ClientDefaults): Promise<Array<{ name: string; bytes: Buffer }>> {
  const publicKey = defaults.signingKey
    ? createPublicKey(defaults.signingKey).export({ format: 'der', type: 'spki' }).toString('base64')
    : '';
  const values = { DEFAULT_INDEX: defaults.indexUrl ?? '', DEFAULT_PUBLIC_KEY: publicKey };
  const rendered: Array<{ name: string; bytes: Buffer }> = [];
  for (const name of CLIENT_FILES) {
    let text = await readFile(path.join(CLIENTS_DIR, name), 'utf8');
    for (const [constant, value] of Object.entries(values)) {
      // One line per constant: `const DEFAULT_INDEX = '';` in pull.mjs, `DEFAULT_INDEX = ""` in pull.py.
      const line = name.endsWith('.mjs')
        ? new RegExp(`^const ${constant} = '';$`, 'm')
        : new RegExp(`^${constant} = ""$`, 'm');
      if (!line.test(text)) throw new Error(`${name} has no "${constant}" line to fill in`);
      // JSON string syntax is a valid string literal in both JavaScript and Python.
      const literal = JSON.stringify(value);
      text = text.replace(line, name.endsWith('.mjs') ? `const ${constant} = ${literal};` : `${constant} = ${literal}`);
    }
    rendered.push({ name, bytes: Buffer.from(text, 'utf8') });
  }
  return rendered;
}
