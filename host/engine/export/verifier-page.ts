/**
 * check-in-browser.html: one self-contained page (no network, no other file) that a solicitor
 * opens from the bundle in a current web browser, from file://, and drops the bundle's files on.
 * In the browser, with WebCrypto, it checks for each recording: the signify signature (.SIG) over
 * the statement (.SHA) and that it embeds that statement; the minisign signature (.MSG) and its
 * signed description; every checkpoint slot's signature (.CKP); and the SHA-256 of every file the
 * statement lists and of the recording against the copy's checksum. The verdict uses the app's
 * words (advice.ts).
 *
 * The key it checks against is the recorder's public key as the bundle was made, written into the
 * page with its fingerprint, which the page shows for the reader to compare (as the report does):
 * a key file replaced in the bundle is reported, not trusted.
 *
 * Ed25519 needs WebCrypto's Ed25519 (Chrome/Edge 137+, Firefox 129+, Safari 17+; Debian's
 * chromium has it). A browser without it gets "cannot check here" and the way to VERIFY.txt,
 * never "verified". (No pure-JavaScript fallback is bundled: the project has no reviewed Ed25519
 * for the browser among its dependencies.)
 */
import { adviceFor } from '../evidence/advice.js';
import { keyFileNames } from '../evidence/pins.js';
import { esc } from './report.js';
import { FINGERPRINT_ADVICE } from './report-model.js';
import type { BundleSource } from './gather.js';

/** What the page knows of the bundle, written into it as JSON. */
export interface VerifierData {
  madeAtIso: string;
  keys: { keyId: string; publicKey: string; files: string[] }[];
  recordings: { number: number; folder: string; original: string; /** Encrypted: the WAV inside (card name), and whether the bundle has it. */ encrypted: { wav: string; inBundle: boolean } | null; fileSha256: string; dataOffset: number; sampleCount: number; signed: boolean; keyId: string | null; label: string; simulated: boolean }[];
  words: Record<string, string>;
}

export function verifierData(src: BundleSource, madeAtIso: string): VerifierData {
  return {
    madeAtIso,
    keys: [...src.keys.keys()].map((keyId) => {
      return { keyId, publicKey: src.publicKeys.get(keyId) ?? '', files: Object.values(keyFileNames(keyId)) };
    }),
    recordings: src.recordings.map((r) => ({
      number: r.manifest.recording.number,
      folder: r.folder,
      original: r.original.name,
      encrypted: r.original.kind === 'age' ? { wav: r.original.wavName, inBundle: r.original.decryptedPath !== null } : null,
      fileSha256: r.manifest.file.sha256,
      dataOffset: r.manifest.recording.dataOffset,
      sampleCount: r.manifest.recording.sampleCount,
      signed: r.signed,
      keyId: r.keyId,
      label: r.manifest.device.label,
      simulated: r.manifest.device.simulated,
    })),
    words: Object.fromEntries((['SIGNATURE_INVALID', 'WRONG_KEY', 'HASH_MISMATCH', 'EVIDENCE_MISSING', 'TRUSTED_COMMENT_MISMATCH', 'CHECKPOINT_GAP'] as const).map((c) => [c, adviceFor(c).meaning])),
  };
}

const STYLE = `
* { box-sizing: border-box; }
html { font-family: "DejaVu Sans", "Segoe UI", Arial, Helvetica, sans-serif; color: #111; background: #fff; }
body { margin: 0 auto; max-width: 46rem; padding: 1.5rem; font-size: 19px; line-height: 1.5; }
h1 { font-size: 1.6em; line-height: 1.2; margin: 0 0 0.5em; }
.drop { border: 3px dashed #1f4e79; border-radius: 10px; padding: 1.2em; text-align: center; margin: 1em 0; background: #f3f7fb; }
.drop.over { background: #dceaf7; }
.drop input { font-size: 0.9em; margin-top: 0.6em; }
.fingerprint { border: 2px dashed #333; padding: 0.5em 0.9em; margin: 1em 0; }
.fingerprint code { font-size: 1.3em; font-weight: bold; letter-spacing: 0.08em; }
#verdict { border: 4px solid #888; border-radius: 8px; padding: 0.7em 1em; margin: 1em 0; font-size: 1.25em; font-weight: bold; }
#verdict[data-verdict="verified"] { border-color: #1a7f37; color: #0d5a26; }
#verdict[data-verdict="not-verified"] { border-color: #b3261e; color: #8c1d18; }
#verdict[data-verdict="unsupported"], #verdict[data-verdict="error"] { border-color: #b58400; }
#results li { margin: 0.5em 0; }
#results .ok { color: #0d5a26; }
#results .bad { color: #8c1d18; }
.small { font-size: 0.85em; color: #333; }
`;

/** The page's script: plain browser JavaScript, no build step (kept free of backquotes and dollar-brace). */
const SCRIPT = String.raw`
'use strict';
var DATA = JSON.parse(document.getElementById('bundle-data').textContent);
var enc = new TextEncoder();
function hex(buf) { return Array.prototype.map.call(new Uint8Array(buf), function (b) { return (b < 16 ? '0' : '') + b.toString(16); }).join(''); }
function unhex(s) { var out = new Uint8Array(s.length / 2); for (var i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16); return out; }
function unb64(s) { var bin = atob(s.trim()); var out = new Uint8Array(bin.length); for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out; }
function eq(a, b) { if (a.length !== b.length) return false; for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }
function concat(a, b) { var o = new Uint8Array(a.length + b.length); o.set(a, 0); o.set(b, a.length); return o; }
function pad5(n) { var s = String(n); while (s.length < 5) s = '0' + s; return s; }
async function sha256(bytes) { return hex(await crypto.subtle.digest('SHA-256', bytes)); }
async function ed25519Supported() {
  try {
    if (!window.crypto || !crypto.subtle) return false;
    // RFC 8032 test 1's public key: a valid point, so only a browser without Ed25519 refuses it
    await crypto.subtle.importKey('raw', unhex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'), { name: 'Ed25519' }, false, ['verify']);
    return true;
  } catch (e) { return false; }
}
async function verifySig(publicKey, message, signature) {
  try {
    var key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  } catch (e) { return false; }
}
function lines(bytes) { return new TextDecoder('latin1').decode(bytes).split('\n'); }
/** signify embedded signature: comment line, base64("Ed" + key id + signature), then the statement. */
function parseSignify(bytes) {
  var text = new TextDecoder('latin1').decode(bytes);
  var first = text.indexOf('\n'); var second = text.indexOf('\n', first + 1);
  if (first < 0 || second < 0 || text.slice(0, 19) !== 'untrusted comment: ') throw new Error('not a signify signature');
  var raw = unb64(text.slice(first + 1, second));
  if (raw.length !== 74 || raw[0] !== 0x45 || raw[1] !== 0x64) throw new Error('not an Ed25519 signify signature');
  return { keyId: hex(raw.slice(2, 10)), signature: raw.slice(10), message: bytes.slice(second + 1) };
}
function parseMinisign(bytes) {
  var l = lines(bytes);
  if (l.length < 4 || l[0].indexOf('untrusted comment: ') !== 0 || l[2].indexOf('trusted comment: ') !== 0) throw new Error('not a minisign signature');
  var raw = unb64(l[1]);
  if (raw.length !== 74 || raw[0] !== 0x45 || raw[1] !== 0x64) throw new Error('not an Ed25519 minisign signature');
  return { keyIdRaw: raw.slice(2, 10), signature: raw.slice(10), trustedComment: l[2].slice(17), globalSignature: unb64(l[3]) };
}
function parseStatement(bytes) {
  var out = {};
  lines(bytes).forEach(function (line) {
    if (!line) return;
    var m = /^SHA256 \(([^)]+)\) = ([0-9a-f]{64})$/.exec(line);
    if (!m) throw new Error('the statement has a line that is not a checksum');
    out[m[1]] = m[2];
  });
  return out;
}
var DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
var MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
function p2(n) { return (n < 10 ? '0' : '') + n; }
/** As the report writes times (report-model.ts formatWhen), in this computer's time zone. */
function when(iso) {
  var d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  var off = -d.getTimezoneOffset();
  var zone = 'UTC' + (off >= 0 ? '+' : '-') + p2(Math.floor(Math.abs(off) / 60)) + ':' + p2(Math.abs(off) % 60);
  return DAYS[d.getDay()] + ' ' + d.getDate() + ' ' + MONTHS[d.getMonth()] + ' ' + d.getFullYear() + ', ' + p2(d.getHours()) + ':' + p2(d.getMinutes()) + ':' + p2(d.getSeconds()) + ' (' + zone + ')';
}
function field(tc, k) { var m = new RegExp('(?:^| )' + k + '=(\\S+)').exec(tc); return m ? m[1] : null; }

async function checkRecording(rec, files, key) {
  var fails = [];
  function fail(code, what) { fails.push({ code: code, text: what + ' (' + DATA.words[code] + ')' }); }
  var base = 'REC' + pad5(rec.number);
  function get(name) { return files[name] || null; }
  var original = get(rec.original);
  if (!original) { fail('EVIDENCE_MISSING', rec.original + ' is not among the files'); return { fails: fails, facts: null }; }
  var originalBytes = new Uint8Array(await original.arrayBuffer());
  var originalSha = await sha256(originalBytes);
  if (originalSha !== rec.fileSha256) fail('HASH_MISMATCH', rec.original + ' is not the file that was copied from the recorder');
  if (!rec.signed) return { fails: fails, facts: null, unsigned: true };
  var need = ['SHA', 'SIG', 'MSG', 'CKP'].map(function (x) { return base + '.' + x; });
  var missing = need.filter(function (n) { return !get(n); });
  if (missing.length) { fail('EVIDENCE_MISSING', missing.join(', ') + ' not among the files'); return { fails: fails, facts: null }; }
  var bytes = {};
  for (var i = 0; i < need.length; i++) bytes[need[i]] = new Uint8Array(await get(need[i]).arrayBuffer());
  var statement = bytes[base + '.SHA'];
  var publicKey = unhex(key.publicKey);
  var facts = null;
  try {
    var s = parseSignify(bytes[base + '.SIG']);
    if (s.keyId !== key.keyId) fail('WRONG_KEY', base + '.SIG was made by key ' + s.keyId + ', not by the key ' + key.keyId + ' of this bundle');
    else if (!eq(s.message, statement)) fail('SIGNATURE_INVALID', base + '.SIG signs a different statement from ' + base + '.SHA');
    else if (!(await verifySig(publicKey, statement, s.signature))) fail('SIGNATURE_INVALID', base + '.SIG: the signature over the statement does not verify');
  } catch (e) { fail('SIGNATURE_INVALID', base + '.SIG is not a readable signature (' + e.message + ')'); }
  try {
    var m = parseMinisign(bytes[base + '.MSG']);
    if (hex(m.keyIdRaw) !== key.keyId) fail('WRONG_KEY', base + '.MSG was made by another key than the key ' + key.keyId + ' of this bundle');
    else if (!(await verifySig(publicKey, statement, m.signature))) fail('SIGNATURE_INVALID', base + '.MSG: the signature over the statement does not verify');
    else if (!(await verifySig(publicKey, concat(m.signature, enc.encode(m.trustedComment)), m.globalSignature))) fail('SIGNATURE_INVALID', base + '.MSG: the signed description was changed');
    else facts = { start: field(m.trustedComment, 'start'), stop: field(m.trustedComment, 'stop'), clock: field(m.trustedComment, 'clock'), samples: Number(field(m.trustedComment, 'samples')), rate: Number(field(m.trustedComment, 'rate')), vouched: Number(field(m.trustedComment, 'vouched')), rec: Number(field(m.trustedComment, 'rec')) };
    if (facts && facts.rec !== rec.number) fail('TRUSTED_COMMENT_MISMATCH', 'the signed description is of recording ' + facts.rec + ', not ' + rec.number);
  } catch (e) { fail('SIGNATURE_INVALID', base + '.MSG is not a readable signature (' + e.message + ')'); }
  var listed = {};
  try { listed = parseStatement(statement); } catch (e) { fail('SIGNATURE_INVALID', base + '.SHA: ' + e.message); }
  var names = Object.keys(listed);
  if (names.indexOf(rec.original) < 0) fail('TRUSTED_COMMENT_MISMATCH', base + '.SHA does not list ' + rec.original);
  // an encrypted recording: the audio is the WAV inside the .AGE, checked when the bundle has it
  var audioBytes = originalBytes;
  if (rec.encrypted) audioBytes = rec.encrypted.inBundle && get(rec.encrypted.wav) ? new Uint8Array(await get(rec.encrypted.wav).arrayBuffer()) : null;
  if (rec.encrypted && rec.encrypted.inBundle && !audioBytes) fail('EVIDENCE_MISSING', rec.encrypted.wav + ' is not among the files');
  for (var j = 0; j < names.length; j++) {
    var n = names[j];
    if (rec.encrypted && n === rec.encrypted.wav && !rec.encrypted.inBundle) continue;
    var f = n === rec.original ? originalBytes : bytes[n] || (get(n) ? new Uint8Array(await get(n).arrayBuffer()) : null);
    if (!f) fail('EVIDENCE_MISSING', n + ', which the statement lists, is not among the files');
    else if ((n === rec.original ? originalSha : await sha256(f)) !== listed[n]) fail('HASH_MISMATCH', n + ' differs from the file the recorder signed');
  }
  var ckp = bytes[base + '.CKP'];
  var slots = Math.floor(ckp.length / 512);
  if (slots === 0 || ckp.length % 512) fail('CHECKPOINT_GAP', base + '.CKP is not whole checkpoint slots');
  var checked = audioBytes ? await checkSlots(rec, key, publicKey, ckp, slots, audioBytes, fail) : null;
  return { fails: fails, facts: facts, checkpoints: slots, vouched: checked, encrypted: rec.encrypted };
}

/** A slot's text: ER1 start|ckpt|stop v1 k=... r=... and its fields. */
function parseSlot(msg) {
  var text = new TextDecoder('latin1').decode(msg).replace(/[ \n]+$/, '');
  var parts = text.split(' ');
  if (parts[0] !== 'ER1' || parts[2] !== 'v1') return null;
  var out = { kind: parts[1] };
  parts.slice(3).forEach(function (p) { var i = p.indexOf('='); if (i > 0) out[p.slice(0, i)] = p.slice(i + 1); });
  return out;
}

/**
 * The checkpoints as recording.ts checks them: every slot signed by the key, in order from the
 * start slot; the stop slot's audio hash, and for a recording cut by power the hash of the audio
 * its last checkpoint vouched for. Returns the samples vouched for while recording.
 */
async function checkSlots(rec, key, publicKey, ckp, slots, wav, fail) {
  var s0 = null;
  var prefixes = {};
  async function audioHash(n) {
    if (!(n in prefixes)) prefixes[n] = n * 2 + rec.dataOffset <= wav.length ? await sha256(wav.subarray(rec.dataOffset, rec.dataOffset + n * 2)) : null;
    return prefixes[n];
  }
  var parsed = [];
  for (var k = 0; k < slots; k++) {
    var msg = ckp.slice(k * 512, k * 512 + 448);
    if (!(await verifySig(publicKey, msg, ckp.slice(k * 512 + 448, k * 512 + 512)))) { fail('SIGNATURE_INVALID', 'checkpoint ' + k + ': its signature does not verify'); return 0; }
    var slot = parseSlot(msg);
    if (!slot || slot.k !== key.keyId || Number(slot.r) !== rec.number) { fail('CHECKPOINT_GAP', 'checkpoint ' + k + ' is not one of this recording\'s'); return 0; }
    if (k === 0) {
      if (slot.kind !== 'start') { fail('CHECKPOINT_GAP', 'checkpoint 0 is not the start of the recording'); return 0; }
      s0 = (await sha256(msg)).slice(0, 32);
    } else if (slot.kind === 'start' || Number(slot.i) !== k || slot.s !== s0) { fail('CHECKPOINT_GAP', 'checkpoint ' + k + ' is out of order, or from another recording\'s start'); return 0; }
    parsed.push(slot);
  }
  var stop = parsed[parsed.length - 1];
  if (!stop || stop.kind !== 'stop') { fail('CHECKPOINT_GAP', 'the checkpoints have no stop slot'); return 0; }
  if (Number(stop.n) !== rec.sampleCount || (await audioHash(Number(stop.n))) !== stop.h) { fail('CHECKPOINT_GAP', 'the audio differs from what the recorder signed when it stopped'); return 0; }
  if (stop.rec !== '1') return Number(stop.n);
  // cut by power: the checkpoint that vouched for the audio up to the power cut
  var vouched = Number(stop.vouched);
  if (vouched === 0) return 0;
  var last = parsed.filter(function (x) { return x.kind === 'ckpt' && Number(x.n) === vouched; })[0];
  if (!last || (await audioHash(vouched)) !== last.h) { fail('CHECKPOINT_GAP', 'the audio up to the power cut differs from what the recorder signed while recording'); return 0; }
  return vouched;
}


function show(verdict, text) {
  var v = document.getElementById('verdict');
  v.setAttribute('data-verdict', verdict);
  v.textContent = text;
}
function item(ok, text) {
  var li = document.createElement('li');
  li.className = ok ? 'ok' : 'bad';
  li.textContent = text;
  document.getElementById('results').appendChild(li);
}

async function checkFiles(fileList) {
  document.getElementById('results').textContent = '';
  var files = {};
  for (var i = 0; i < fileList.length; i++) files[fileList[i].name] = fileList[i];
  show('checking', 'Checking...');
  if (!(await ed25519Supported())) {
    show('unsupported', 'This browser cannot check the recorder\'s signatures (it lacks Ed25519). Nothing was checked. Use a current Chrome, Edge, Firefox or Safari, or the commands in VERIFY.txt.');
    return;
  }
  var allOk = true;
  for (var k = 0; k < DATA.keys.length; k++) {
    var key = DATA.keys[k];
    var pub = files[key.files[0]];
    if (pub) {
      var got = null;
      try { var raw = unb64(lines(new Uint8Array(await pub.arrayBuffer()))[1]); got = hex(raw.slice(10)); } catch (e) { got = null; }
      if (got !== key.publicKey) { allOk = false; item(false, 'The key file ' + key.files[0] + ' is not the key ' + key.keyId + ' this bundle was made with: it was replaced (' + DATA.words.WRONG_KEY + ').'); }
    }
  }
  for (var r = 0; r < DATA.recordings.length; r++) {
    var rec = DATA.recordings[r];
    var key2 = DATA.keys.filter(function (x) { return x.keyId === rec.keyId; })[0] || null;
    var res = await checkRecording(rec, files, key2);
    if (res.fails.length) {
      allOk = false;
      item(false, 'Recording ' + rec.number + ': NOT verified. ' + res.fails.map(function (f) { return f.text; }).join('; ') + '.');
    } else if (res.unsigned) {
      item(true, 'Recording ' + rec.number + ': verified, without a signature: the file is exactly the one copied from the recorder, but the recorder did not sign it.');
    } else {
      var f = res.facts;
      var ran = f && f.clock === 'set' ? ' It ran from ' + when(f.start) + ' to ' + when(f.stop) + ' by the recorder\'s clock.' : '';
      var part = f && res.vouched !== null && res.vouched < f.samples ? ' It was cut off by a power loss: the recorder signed it while recording up to ' + Math.floor(res.vouched / f.rate) + ' seconds of ' + Math.floor(f.samples / f.rate) + '; the rest was signed after the power came back.' : '';
      var enc = !res.encrypted ? '' : res.encrypted.inBundle ? ' It was encrypted on the recorder: ' + rec.original + ' is the file it wrote and ' + res.encrypted.wav + ' the audio decrypted from it; the recorder signed both.' : ' It was encrypted on the recorder: ' + rec.original + ' is the file it wrote and signed; the audio in it was not decrypted for this bundle (the owner\'s key is needed), so the checkpoints were checked for their signatures only.';
      item(true, 'Recording ' + rec.number + ': verified. The file is exactly the recording that recorder "' + rec.label + '" (key ' + rec.keyId + ') made and signed; ' + res.checkpoints + (res.vouched === null ? ' checkpoints' : ' signed checkpoints match') + '.' + ran + enc + part);
    }
  }
  show(allOk ? 'verified' : 'not-verified', allOk ? 'Verified: every recording in this bundle is exactly as the recorder made and signed it.' : 'NOT verified: see below for what does not match.');
}

/** Never leaves the reader with "Checking..." and no answer: a failure of the page is said as such. */
function checkSafely(list) {
  checkFiles(list).catch(function (e) { show('error', 'The check could not finish (' + (e && e.message) + '). Nothing was verified. Use the commands in VERIFY.txt.'); });
}
var input = document.getElementById('files');
input.addEventListener('change', function () { checkSafely(input.files); });
var drop = document.getElementById('drop');
drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.className = 'drop over'; });
drop.addEventListener('dragleave', function () { drop.className = 'drop'; });
function walk(entry, out) {
  return new Promise(function (resolve) {
    if (entry.isFile) entry.file(function (f) { out.push(f); resolve(); }, function () { resolve(); });
    else if (entry.isDirectory) {
      var reader = entry.createReader(); var all = [];
      (function more() { reader.readEntries(function (es) { if (!es.length) { Promise.all(all.map(function (x) { return walk(x, out); })).then(resolve); } else { all = all.concat(Array.prototype.slice.call(es)); more(); } }, function () { resolve(); }); })();
    } else resolve();
  });
}
drop.addEventListener('drop', function (e) {
  e.preventDefault(); drop.className = 'drop';
  var items = e.dataTransfer.items; var out = [];
  if (items && items.length && items[0].webkitGetAsEntry) {
    Promise.all(Array.prototype.map.call(items, function (it) { var en = it.webkitGetAsEntry(); return en ? walk(en, out) : null; })).then(function () { checkSafely(out); });
  } else checkSafely(e.dataTransfer.files);
});
document.getElementById('ready').textContent = 'ready';
`;

export function verifierHtml(data: VerifierData): string {
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const fps = data.keys.map((k) => `<p><code>${esc(k.keyId)}</code></p>`).join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Check the recordings in this bundle</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Check the recordings in this bundle</h1>
<p>This page checks, on this computer and without the internet, that the recordings in this bundle are exactly as the recorder made and signed them. Nothing is sent anywhere.</p>
<div class="drop" id="drop">
<p><strong>Drag the bundle's folder (or all its files) here,</strong><br>or choose the files: open each recording folder and the <em>keys</em> folder and select everything.</p>
<input type="file" id="files" multiple>
</div>
<div id="verdict" data-verdict="waiting" role="status">Waiting for the files.</div>
<ul id="results"></ul>
${fps ? `<div class="fingerprint"><p>The recorder's key fingerprint this bundle was made with:</p>${fps}<p class="small">It is also on the first page of the report. ${esc(FINGERPRINT_ADVICE)}</p></div>` : ''}
<p class="small">This page checks the recorder's signatures (Ed25519) and the files' SHA-256 checksums with your browser's own cryptography. VERIFY.txt gives the same checks as commands for standard tools. <span id="ready" hidden></span></p>
<script type="application/json" id="bundle-data">${json}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
