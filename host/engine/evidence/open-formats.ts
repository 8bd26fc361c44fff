/**
 * Open signature formats for the recorder's signed statements (issue 12, host side only: the
 * recorder does not make these files yet).
 *
 * The recorder will hold an Ed25519 key that never leaves it and sign a small statement: a
 * checksum list, one `SHA256 (R0000042.WAV) = <hex>` line per file, the format of
 * `sha256sum --tag`. Anyone can then check the statement and the files with stock tools and no
 * app (docs/checking-signatures.md):
 *
 * - signify (OpenBSD; Debian `signify-openbsd`): `signify -C -p dev.pub -x R0000042.sig` checks
 *   the signature and then every listed file. `-C` reads the *embedded* form: the signature file
 *   is its two lines followed by the statement itself (signify.c: check() -> verifyembedded()).
 * - minisign, legacy ("Ed", pure Ed25519) signatures: `minisign -Vm statement -p dev.minisign.pub`.
 *   (Its default "ED" form signs BLAKE2b-512 of the file instead; the recorder does not compute
 *   BLAKE2b, so it uses the legacy form, which minisign verifies unless given -H.)
 * - OpenSSL: `openssl pkeyutl -verify -pubin -inkey dev.pem -rawin -in statement -sigfile
 *   statement.sig`, with the key as an Ed25519 SubjectPublicKeyInfo PEM and the bare 64-byte
 *   signature.
 *
 * What the recorder must sign, per statement: TWO Ed25519 signatures.
 * 1. `signature` over exactly the statement bytes. signify, minisign's first check and OpenSSL
 *    all verify this same signature.
 * 2. `globalSignature` over `signature || trustedComment` (the 64 signature bytes followed by the
 *    trusted comment's UTF-8 bytes, no prefix, no newline): minisign always checks this second
 *    signature, which is what makes its trusted comment trustworthy. Only the secret key can
 *    make it, so the host cannot add it later: the recorder must choose the trusted comment and
 *    sign it too (minisignGlobalMessage() gives the bytes). The writers below take both.
 *
 * Key id: signify and minisign put an 8-byte key id beside the key and in each signature, and
 * refuse a signature whose id differs from the key's. Both tools make it random; here it is
 * defined as the first 8 bytes of SHA-256 of the raw 32-byte public key, so it follows from the
 * key alone and the host can recompute it. The device fingerprint shown to people will be
 * derived from the same hash. The public key line is then the same for signify and minisign:
 * base64("Ed" || key id || key).
 *
 * The writers check the signatures (node:crypto) before writing anything, so a firmware bug
 * shows up as an error here rather than as files a solicitor's expert cannot verify. The
 * parsers reject anything the stock tools would read differently, with a plain message.
 */
import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const KEY_ID_BYTES = 8;

/** signify's PKALG and minisign's legacy SIGALG: pure Ed25519. */
const ALG_ED25519 = 'Ed';
/** minisign's default SIGALG: Ed25519 over BLAKE2b-512 of the file. */
const ALG_MINISIGN_PREHASHED = 'ED';
/** RFC 8410 SubjectPublicKeyInfo DER for Ed25519, before the 32 key bytes. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const UNTRUSTED_PREFIX = 'untrusted comment: ';
const TRUSTED_PREFIX = 'trusted comment: ';
const PEM_BEGIN = '-----BEGIN PUBLIC KEY-----';
const PEM_END = '-----END PUBLIC KEY-----';
// Comment limits within both tools' line buffers (signify COMMENTMAXLEN 1024 with the prefix;
// minisign reads the untrusted line into 1024 bytes and the trusted one into 8192).
const MAX_UNTRUSTED_COMMENT_BYTES = 1000;
const MAX_TRUSTED_COMMENT_BYTES = 8000;

/** A file (or its contents) that is not what it should be; the message says which and why. */
export class OpenFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenFormatError';
  }
}

export interface PublicKeyFile {
  comment: string;
  keyId: Buffer;
  publicKey: Buffer;
}

export interface SignifySignatureFile {
  comment: string;
  keyId: Buffer;
  signature: Buffer;
  /** The statement that follows the two lines (embedded form); empty for a detached signature. */
  message: Buffer;
}

export interface MinisignSignatureFile {
  untrustedComment: string;
  keyId: Buffer;
  signature: Buffer;
  trustedComment: string;
  globalSignature: Buffer;
}

/** What the recorder produces for one statement. */
export interface SignedStatement {
  /** The recorder's raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** The statement bytes, exactly as signed. */
  statement: Uint8Array;
  /** Ed25519 over `statement`. */
  signature: Uint8Array;
  /** One line of text for minisign, signed by `globalSignature`. */
  trustedComment: string;
  /** Ed25519 over minisignGlobalMessage(signature, trustedComment). */
  globalSignature: Uint8Array;
}

/** The result of checking one tool's files. */
export interface OpenCheck {
  ok: boolean;
  problems: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function expectLength(bytes: Uint8Array, length: number, what: string): Buffer {
  if (bytes.length !== length) throw new OpenFormatError(`${what} is ${bytes.length} bytes, expected ${length}`);
  return Buffer.from(bytes);
}

/** The key id: the first 8 bytes of SHA-256 of the raw public key (see the file comment). */
export function keyIdOf(publicKey: Uint8Array): Buffer {
  const key = expectLength(publicKey, PUBLIC_KEY_BYTES, 'the Ed25519 public key');
  return createHash('sha256').update(key).digest().subarray(0, KEY_ID_BYTES);
}

/** The key id as minisign prints it: the 8 bytes read as a little-endian integer, in hex. */
export function minisignKeyIdText(keyId: Uint8Array): string {
  return expectLength(keyId, KEY_ID_BYTES, 'the key id').readBigUInt64LE().toString(16).toUpperCase();
}

/** Ed25519 verification of `signature` over exactly `message` (node:crypto, i.e. OpenSSL). */
export function verifyStatement(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
    return cryptoVerify(null, message, key, signature);
  } catch {
    return false; // 32 bytes that are not a point of the curve
  }
}

/** The bytes minisign's global signature covers: the message signature, then the trusted comment. */
export function minisignGlobalMessage(signature: Uint8Array, trustedComment: string): Buffer {
  checkComment(trustedComment, MAX_TRUSTED_COMMENT_BYTES, 'the trusted comment');
  return Buffer.concat([expectLength(signature, SIGNATURE_BYTES, 'the signature'), Buffer.from(trustedComment, 'utf8')]);
}

// ---- base64 and comment lines

/** Strict base64: the canonical padded encoding only (Node's decoder skips junk silently). */
function decodeBase64(text: string, length: number, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new OpenFormatError(`${what} is not valid base64`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) throw new OpenFormatError(`${what} is not valid base64`);
  if (bytes.length !== length) throw new OpenFormatError(`${what} decodes to ${bytes.length} bytes, expected ${length}`);
  return bytes;
}

function checkComment(comment: string, maxBytes: number, what: string): void {
  if (/[\r\n\0]/.test(comment)) throw new OpenFormatError(`${what} must be one line (no line breaks or NUL)`);
  const bytes = Buffer.byteLength(comment, 'utf8');
  if (bytes > maxBytes) throw new OpenFormatError(`${what} is ${bytes} bytes, at most ${maxBytes} allowed`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeLine(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new OpenFormatError(`${what} is not UTF-8 text`);
  }
}

/** Splits off one '\n'-terminated line; the tools need the newline even on the last line. */
function takeLine(bytes: Buffer, from: number, what: string): { line: string; next: number } {
  const end = bytes.indexOf(0x0a, from);
  if (end < 0) throw new OpenFormatError(`${what} is missing or does not end with a newline`);
  const line = decodeLine(bytes.subarray(from, end), what);
  if (line.includes('\r')) throw new OpenFormatError(`${what} contains a carriage return (Windows line endings?)`);
  return { line, next: end + 1 };
}

/** The comment of an `untrusted comment: ...` line (signify needs it non-empty). */
function untrustedComment(line: string, file: string): string {
  if (!line.startsWith(UNTRUSTED_PREFIX)) throw new OpenFormatError(`${file}: the first line must start with "${UNTRUSTED_PREFIX}"`);
  const comment = line.slice(UNTRUSTED_PREFIX.length);
  if (comment === '') throw new OpenFormatError(`${file}: the untrusted comment is empty`);
  checkComment(comment, MAX_UNTRUSTED_COMMENT_BYTES, `${file}: the untrusted comment`);
  return comment;
}

/** Reads "untrusted comment" line + base64 line of `"Ed" || key id || payload`. */
function readCommentAndBlob(data: Uint8Array | string, file: string, payloadBytes: number, acceptAlgs: string[]): { comment: string; alg: string; keyId: Buffer; payload: Buffer; rest: Buffer } {
  const bytes = Buffer.from(data);
  const first = takeLine(bytes, 0, `${file}: the untrusted comment line`);
  const comment = untrustedComment(first.line, file);
  const second = takeLine(bytes, first.next, `${file}: the base64 line`);
  const blob = decodeBase64(second.line, 2 + KEY_ID_BYTES + payloadBytes, `${file}: the base64 line`);
  const alg = blob.subarray(0, 2).toString('latin1');
  if (!acceptAlgs.includes(alg)) throw new OpenFormatError(`${file}: algorithm bytes ${JSON.stringify(alg)} (hex ${hex(blob.subarray(0, 2))}), expected "${ALG_ED25519}" (Ed25519)`);
  return { comment, alg, keyId: blob.subarray(2, 2 + KEY_ID_BYTES), payload: blob.subarray(2 + KEY_ID_BYTES), rest: bytes.subarray(second.next) };
}

function blobLine(keyId: Uint8Array, payload: Uint8Array): string {
  return Buffer.concat([Buffer.from(ALG_ED25519, 'latin1'), keyId, payload]).toString('base64');
}

function requireValid(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, what: string): void {
  expectLength(signature, SIGNATURE_BYTES, what);
  if (!verifyStatement(publicKey, message, signature)) throw new OpenFormatError(`${what} does not verify with this public key: nothing written`);
}

// ---- public keys

/** The signify public key file (also valid for minisign, but see minisignPublicKey). */
export function signifyPublicKey(publicKey: Uint8Array, comment = `evidence recorder public key ${hex(keyIdOf(publicKey))}`): string {
  checkComment(comment, MAX_UNTRUSTED_COMMENT_BYTES, 'the comment');
  if (comment === '') throw new OpenFormatError('the comment is empty (signify refuses an empty comment)');
  return `${UNTRUSTED_PREFIX}${comment}\n${blobLine(keyIdOf(publicKey), publicKey)}\n`;
}

/** The minisign public key file; its comment names the key id as minisign prints it. */
export function minisignPublicKey(publicKey: Uint8Array): string {
  return signifyPublicKey(publicKey, `minisign public key ${minisignKeyIdText(keyIdOf(publicKey))}`);
}

function parsePublicKey(data: Uint8Array | string, file: string): PublicKeyFile {
  const r = readCommentAndBlob(data, file, PUBLIC_KEY_BYTES, [ALG_ED25519]);
  if (r.rest.length !== 0) throw new OpenFormatError(`${file}: unexpected data after the key line`);
  const expected = keyIdOf(r.payload);
  if (!r.keyId.equals(expected)) throw new OpenFormatError(`${file}: wrong key id ${hex(r.keyId)}: a recorder's key id is ${hex(expected)} (the first 8 bytes of SHA-256 of its key); the file was edited or is not a recorder's`);
  return { comment: r.comment, keyId: r.keyId, publicKey: r.payload };
}

export const parseSignifyPublicKey = (data: Uint8Array | string): PublicKeyFile => parsePublicKey(data, 'signify public key');
export const parseMinisignPublicKey = (data: Uint8Array | string): PublicKeyFile => parsePublicKey(data, 'minisign public key');

/** The OpenSSL public key: PEM of the Ed25519 SubjectPublicKeyInfo. */
export function opensslPublicKeyPem(publicKey: Uint8Array): string {
  const der = Buffer.concat([SPKI_ED25519_PREFIX, expectLength(publicKey, PUBLIC_KEY_BYTES, 'the Ed25519 public key')]);
  return `${PEM_BEGIN}\n${der.toString('base64')}\n${PEM_END}\n`;
}

export function parseOpensslPublicKeyPem(data: Uint8Array | string): Buffer {
  const file = 'OpenSSL public key';
  const lines = Buffer.from(data).toString('latin1').replace(/\r\n/g, '\n').trim().split('\n');
  if (lines[0] !== PEM_BEGIN || lines[lines.length - 1] !== PEM_END || lines.length < 3) throw new OpenFormatError(`${file}: not a PEM public key (expected "${PEM_BEGIN}" ... "${PEM_END}")`);
  const body = lines.slice(1, -1).join('');
  const der = decodeBase64(body, SPKI_ED25519_PREFIX.length + PUBLIC_KEY_BYTES, `${file}: the PEM body`);
  if (!der.subarray(0, SPKI_ED25519_PREFIX.length).equals(SPKI_ED25519_PREFIX)) throw new OpenFormatError(`${file}: not an Ed25519 public key (its algorithm header is ${hex(der.subarray(0, SPKI_ED25519_PREFIX.length))})`);
  return der.subarray(SPKI_ED25519_PREFIX.length);
}

// ---- signatures

/**
 * The signify signature file in the embedded form `signify -C` needs: the comment line, the
 * signature line, then the statement itself. `signify -V -e` reads the same file.
 */
export function signifySignature(s: Pick<SignedStatement, 'publicKey' | 'statement' | 'signature'>, comment = `signed by evidence recorder ${hex(keyIdOf(s.publicKey))}`): Buffer {
  requireValid(s.publicKey, s.statement, s.signature, 'the statement signature');
  if (comment === '') throw new OpenFormatError('the comment is empty (signify refuses an empty comment)');
  checkComment(comment, MAX_UNTRUSTED_COMMENT_BYTES, 'the comment');
  return Buffer.concat([Buffer.from(`${UNTRUSTED_PREFIX}${comment}\n${blobLine(keyIdOf(s.publicKey), s.signature)}\n`, 'utf8'), s.statement]);
}

export function parseSignifySignature(data: Uint8Array): SignifySignatureFile {
  const r = readCommentAndBlob(data, 'signify signature', SIGNATURE_BYTES, [ALG_ED25519]);
  return { comment: r.comment, keyId: r.keyId, signature: r.payload, message: r.rest };
}

/**
 * The minisign legacy signature file: untrusted comment, base64("Ed" || key id || signature),
 * trusted comment, base64(global signature). Needs both signatures (see the file comment).
 */
export function minisignSignature(s: SignedStatement, untrusted = `signature from evidence recorder ${minisignKeyIdText(keyIdOf(s.publicKey))}`): string {
  requireValid(s.publicKey, s.statement, s.signature, 'the statement signature');
  requireValid(s.publicKey, minisignGlobalMessage(s.signature, s.trustedComment), s.globalSignature, 'the global (trusted comment) signature');
  checkComment(untrusted, MAX_UNTRUSTED_COMMENT_BYTES, 'the untrusted comment');
  return `${UNTRUSTED_PREFIX}${untrusted}\n${blobLine(keyIdOf(s.publicKey), s.signature)}\n${TRUSTED_PREFIX}${s.trustedComment}\n${Buffer.from(s.globalSignature).toString('base64')}\n`;
}

export function parseMinisignSignature(data: Uint8Array | string): MinisignSignatureFile {
  const file = 'minisign signature';
  const bytes = Buffer.from(data);
  const r = readCommentAndBlob(bytes, file, SIGNATURE_BYTES, [ALG_ED25519, ALG_MINISIGN_PREHASHED]);
  if (r.alg === ALG_MINISIGN_PREHASHED) throw new OpenFormatError(`${file}: a prehashed ("ED", BLAKE2b) signature; a recorder makes legacy "Ed" signatures over the statement itself`);
  const third = takeLine(r.rest, 0, `${file}: the trusted comment line`);
  if (!third.line.startsWith(TRUSTED_PREFIX)) throw new OpenFormatError(`${file}: the third line must start with "${TRUSTED_PREFIX}"`);
  const trustedComment = third.line.slice(TRUSTED_PREFIX.length);
  checkComment(trustedComment, MAX_TRUSTED_COMMENT_BYTES, `${file}: the trusted comment`);
  const fourth = takeLine(r.rest, third.next, `${file}: the global signature line`);
  const globalSignature = decodeBase64(fourth.line, SIGNATURE_BYTES, `${file}: the global signature line`);
  if (fourth.next !== r.rest.length) throw new OpenFormatError(`${file}: unexpected data after the global signature`);
  return { untrustedComment: r.comment, keyId: r.keyId, signature: r.payload, trustedComment, globalSignature };
}

/** The bare signature for OpenSSL (`-sigfile`): the 64 bytes, nothing else. */
export function rawSignature(s: Pick<SignedStatement, 'publicKey' | 'statement' | 'signature'>): Buffer {
  requireValid(s.publicKey, s.statement, s.signature, 'the statement signature');
  return Buffer.from(s.signature);
}

export function parseRawSignature(data: Uint8Array): Buffer {
  return expectLength(data, SIGNATURE_BYTES, 'raw Ed25519 signature file');
}

// ---- checking the files as the tools do

function check(run: () => string[]): OpenCheck {
  let problems: string[];
  try {
    problems = run();
  } catch (e) {
    if (!(e instanceof OpenFormatError)) throw e;
    problems = [e.message];
  }
  return { ok: problems.length === 0, problems };
}

function keyProblems(signatureKeyId: Buffer, key: PublicKeyFile, file: string): string[] {
  return signatureKeyId.equals(key.keyId) ? [] : [`${file}: made by another key (key id ${hex(signatureKeyId)}, this public key's is ${hex(key.keyId)})`];
}

/** What `signify -C` checks of the signature (not the listed files): key id, then Ed25519. */
export function verifySignifyFiles(publicKeyFile: Uint8Array | string, signatureFile: Uint8Array): OpenCheck & { message: Buffer } {
  let message: Buffer = Buffer.alloc(0);
  const result = check(() => {
    const key = parseSignifyPublicKey(publicKeyFile);
    const sig = parseSignifySignature(signatureFile);
    message = sig.message;
    const wrongKey = keyProblems(sig.keyId, key, 'signify signature');
    if (wrongKey.length) return wrongKey;
    return verifyStatement(key.publicKey, sig.message, sig.signature) ? [] : ['signify signature: does not verify: the statement or the signature has been changed'];
  });
  return { ...result, message };
}

/** What `minisign -V` checks: key id, the statement signature, then the trusted comment's. */
export function verifyMinisignFiles(publicKeyFile: Uint8Array | string, signatureFile: Uint8Array | string, statement: Uint8Array): OpenCheck & { trustedComment: string | null } {
  let trustedComment: string | null = null;
  const result = check(() => {
    const key = parseMinisignPublicKey(publicKeyFile);
    const sig = parseMinisignSignature(signatureFile);
    const wrongKey = keyProblems(sig.keyId, key, 'minisign signature');
    if (wrongKey.length) return wrongKey;
    if (!verifyStatement(key.publicKey, statement, sig.signature)) return ['minisign signature: does not verify: the statement or the signature has been changed'];
    if (!verifyStatement(key.publicKey, minisignGlobalMessage(sig.signature, sig.trustedComment), sig.globalSignature)) return ['minisign signature: the trusted comment has been changed (its signature does not verify)'];
    trustedComment = sig.trustedComment;
    return [];
  });
  return { ...result, trustedComment };
}

/** What `openssl pkeyutl -verify -rawin` checks. */
export function verifyOpensslFiles(pemFile: Uint8Array | string, statement: Uint8Array, signatureFile: Uint8Array): OpenCheck {
  return check(() => (verifyStatement(parseOpensslPublicKeyPem(pemFile), statement, parseRawSignature(signatureFile)) ? [] : ['OpenSSL signature: does not verify: the statement or the signature has been changed, or another key made it']));
}

// ---- the checksum-list statement

export interface ChecksumEntry {
  /** A file name in the same folder as the statement. */
  name: string;
  /** SHA-256 of the whole file, lowercase hex. */
  sha256: string;
}

const LINE = /^SHA256 \(([^)]*)\) = ([0-9a-f]{64})$/;

// signify reads a name up to the first ')' and stops at the first empty line, so such names
// and lines would be checked differently from what was signed; '/' would reach outside the folder.
function nameProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (/[/\\()\r\n\0]/.test(name)) return 'contains one of / \\ ( ) or a line break';
  if (name.trim() !== name) return 'starts or ends with a space';
  if (name === '.' || name === '..') return 'is not a file name';
  return null;
}

/** The statement: one `SHA256 (name) = hex` line per file (`sha256sum --tag`, signify -C). */
export function checksumStatement(entries: readonly ChecksumEntry[]): Buffer {
  if (entries.length === 0) throw new OpenFormatError('a checksum statement needs at least one file');
  const seen = new Set<string>();
  const lines = entries.map(({ name, sha256 }) => {
    const problem = nameProblem(name);
    if (problem) throw new OpenFormatError(`file name ${JSON.stringify(name)} ${problem}`);
    if (seen.has(name)) throw new OpenFormatError(`file name ${JSON.stringify(name)} is listed twice`);
    seen.add(name);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new OpenFormatError(`the SHA-256 of ${name} is not 64 lowercase hex digits`);
    return `SHA256 (${name}) = ${sha256}\n`;
  });
  return Buffer.from(lines.join(''), 'utf8');
}

export function parseChecksumStatement(data: Uint8Array): ChecksumEntry[] {
  const text = decodeLine(Buffer.from(data), 'the checksum statement');
  if (!text.endsWith('\n')) throw new OpenFormatError('the checksum statement does not end with a newline');
  const entries = text.slice(0, -1).split('\n').map((line, i) => {
    const m = LINE.exec(line);
    if (!m) throw new OpenFormatError(`the checksum statement's line ${i + 1} is not "SHA256 (name) = <64 hex digits>"`);
    return { name: m[1]!, sha256: m[2]! };
  });
  checksumStatement(entries); // the writer's rules: names, duplicates
  return entries;
}
