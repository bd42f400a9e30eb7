/**
 * ed25519 signatures over the exact bytes of index.json, kept detached in index.json.sig as one
 * line of base64. Artifacts are covered through the sha256 the index lists for each of them.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { EdgezooError } from '../errors.js';

/** Reads an ed25519 private key given as PEM or as base64 of the PKCS8 DER bytes (what EDGEZOO_SIGNING_KEY holds). */
export function parsePrivateKey(text: string, where = 'EDGEZOO_SIGNING_KEY'): KeyObject {
  let key: KeyObject;
  try {
    key = text.includes('-----BEGIN')
      ? createPrivateKey(text)
      : createPrivateKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new EdgezooError(
      'SIGNING_KEY_INVALID',
      `${where} is not a private key (expected PEM or base64 PKCS8 of an ed25519 key)`,
      {
        hint: 'make one with `edgezoo publish --gen-key DIR`',
      },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgezooError(
      'SIGNING_KEY_INVALID',
      `${where} is a ${key.asymmetricKeyType ?? 'unknown'} key; edgezoo signs with ed25519`,
    );
  }
  return key;
}

/** Reads an ed25519 public key given as PEM or as base64 of the SPKI DER bytes (EDGEZOO_PUBLIC_KEY, --public-key). */
export function parsePublicKey(text: string, where = 'EDGEZOO_PUBLIC_KEY'): KeyObject {
  let key: KeyObject;
  try {
    key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new EdgezooError(
      'PUBLIC_KEY_INVALID',
      `${where} is not a public key (expected PEM or base64 SPKI of an ed25519 key)`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgezooError(
      'PUBLIC_KEY_INVALID',
      `${where} is a ${key.asymmetricKeyType ?? 'unknown'} key; edgezoo verifies ed25519`,
    );
  }
  return key;
}

/** The detached signature file's text for `bytes`: base64 of the 64-byte ed25519 signature, and a newline. */
export function signBytes(bytes: Uint8Array, privateKey: KeyObject): string {
  return `${sign(null, bytes, privateKey).toString('base64')}\n`;
}

/** True when `signatureText` (the .sig file) is a valid signature of exactly `bytes`. */
export function verifyBytes(bytes: Uint8Array, signatureText: string, publicKey: KeyObject): boolean {
  const signature = Buffer.from(signatureText.trim(), 'base64');
  if (signature.length !== 64) return false;
  return verify(null, bytes, publicKey, signature);
}

export interface SigningKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  /** One-line forms for environment variables (EDGEZOO_SIGNING_KEY, EDGEZOO_PUBLIC_KEY). */
  privateKeyBase64: string;
  publicKeyBase64: string;
}

/** A fresh ed25519 key pair for signing a zoo's index. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    privateKeyBase64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}
