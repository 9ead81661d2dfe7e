/**
 * Report signatures: Ed25519 over the exact bytes of the file, nothing else. The detached `.sig`
 * document carries the signature with the key id and the file's SHA-256 (a help to name what went
 * wrong); only the signature, checked with the collector's public key, proves anything.
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

export const SIGNATURE_FORMAT = 'dayi-report-signature/1';
export const SIGNATURE_ALGORITHM = 'Ed25519';

/** The detached signature of one report (`FILE.sig`, JSON). */
export interface SignatureDocument {
  format: typeof SIGNATURE_FORMAT;
  algorithm: typeof SIGNATURE_ALGORITHM;
  /** Fingerprint of the public key that verifies it (see `keyFingerprint`). */
  keyId: string;
  /** Base64 of the 64-byte Ed25519 signature over the file's bytes. */
  signature: string;
  /** Hex SHA-256 of the file's bytes, and its length: not signed, for clearer errors. */
  sha256: string;
  bytes: number;
  reportId: string;
  fileName: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** 16 hex digits of the SHA-256 of the raw 32-byte public key. */
export function keyFingerprint(publicKey: KeyObject): string {
  const raw = rawPublicKey(publicKey);
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function rawPublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new Error('not an Ed25519 public key');
  }
  return Buffer.from(jwk.x, 'base64url');
}

export function signBytes(bytes: Uint8Array, privateKey: KeyObject): string {
  return sign(null, bytes, privateKey).toString('base64');
}

export function signatureDocument(
  bytes: Uint8Array,
  signature: string,
  keyId: string,
  report: { reportId: string; fileName: string },
): SignatureDocument {
  return {
    format: SIGNATURE_FORMAT,
    algorithm: SIGNATURE_ALGORITHM,
    keyId,
    signature,
    sha256: sha256Hex(bytes),
    bytes: bytes.length,
    reportId: report.reportId,
    fileName: report.fileName,
  };
}

/** Reads a `.sig` document; throws naming what is wrong. */
export function parseSignatureDocument(text: string): SignatureDocument {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('not a dayi report signature (not JSON)');
  }
  const v = value as Partial<SignatureDocument> | null;
  if (!v || typeof v !== 'object' || v.format !== SIGNATURE_FORMAT) {
    throw new Error(`not a dayi report signature (format is not ${SIGNATURE_FORMAT})`);
  }
  if (v.algorithm !== SIGNATURE_ALGORITHM) throw new Error(`algorithm ${String(v.algorithm)} is not Ed25519`);
  for (const field of ['keyId', 'signature', 'sha256', 'reportId', 'fileName'] as const) {
    if (typeof v[field] !== 'string') throw new Error(`signature field ${field} is missing`);
  }
  if (typeof v.bytes !== 'number') throw new Error('signature field bytes is missing');
  return v as SignatureDocument;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * OK only when `signature` is a valid Ed25519 signature of exactly `bytes` under `publicKey`,
 * and the key is the one the document names.
 */
export function verifyReport(bytes: Uint8Array, doc: SignatureDocument, publicKey: KeyObject): VerifyResult {
  const fingerprint = keyFingerprint(publicKey);
  if (fingerprint !== doc.keyId) {
    return {
      ok: false,
      reason: `the signature names key ${doc.keyId}, the public key given is ${fingerprint}`,
    };
  }
  const signature = Buffer.from(doc.signature, 'base64');
  if (signature.length !== 64) return { ok: false, reason: 'the signature is not 64 bytes of base64' };
  if (verify(null, bytes, publicKey, signature)) return { ok: true };
  const digest = sha256Hex(bytes);
  return {
    ok: false,
    reason:
      digest === doc.sha256
        ? 'the signature does not match the file'
        : `the file is not the one signed: its SHA-256 is ${digest}, the signed file's is ${doc.sha256}` +
          (bytes.length === doc.bytes ? '' : ` (${bytes.length} bytes, signed ${doc.bytes})`),
  };
}

export function publicKeyFromPem(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`the public key is ${key.asymmetricKeyType}, not Ed25519`);
  }
  return key;
}
