/** One plain-English line per event, for the plain CLI output (and any view that wants it). */
import type { EngineEvent, SignatureSummary } from './events.js';
import { estimateText } from './placement.js';

const mb = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(0, Math.round(n / 1e3))} kB`);
const dur = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

export function describeEvent(e: EngineEvent): string {
  switch (e.type) {
    case 'device.found':
      // A port named with --port is only tried here: "Connected on ..." (or an error) follows.
      return e.source === 'explicit' ? `Opening ${e.port} (${e.description}).` : `Found recorder port ${e.port} (${e.description}).`;
    case 'device.choose':
      return `Several recorders: ${e.candidates.map((c) => c.port).join(', ')}.`;
    case 'device.connected':
      return `Connected on ${e.port}.`;
    case 'device.info': {
      const d = e.device;
      return `Recorder "${d.label || '(no label)'}" (id ${d.deviceId}, ${d.model}${d.simulated ? ', SIMULATED' : ''}, firmware ${d.firmware}): ${d.recordingCount} recording(s), ${d.recState}, card ${d.cardState}, battery ${d.batteryMv} mV.`;
    }
    case 'device.state':
      return `Recorder is now ${e.recState}${e.number ? ` (recording ${e.number})` : ''}; card ${e.cardState}.`;
    case 'clock.offset':
      return e.deviceClockWasSet
        ? `Recorder clock is ${Math.abs(e.offsetMs / 1000).toFixed(1)} s ${e.offsetMs >= 0 ? 'ahead of' : 'behind'} this computer (±${Math.ceil(e.roundTripMs / 2)} ms).`
        : 'Recorder clock had not been set.';
    case 'clock.set':
      return `Recorder clock set to ${new Date(Number(e.newUnixMs)).toISOString()}.`;
    case 'list.received':
      return `${e.total} recording(s) on the recorder: ${e.toCopy.length} to copy, ${e.alreadyInLibrary.length} already in the library${e.inProgress.length ? `, ${e.inProgress.length} still recording` : ''}.`;
    case 'file.started':
      return `Copying recording ${e.number} to ${e.fileName} (${mb(e.size)})${e.fromOffset ? `, continuing from ${mb(e.fromOffset)}` : ''}.`;
    case 'file.resumed':
    case 'file.restarted':
    case 'file.skipped':
    case 'file.deleted':
      return e.message;
    case 'file.progress':
      return `Recording ${e.number}: ${mb(e.bytes)} of ${mb(e.total)} (${Math.floor((100 * e.bytes) / Math.max(1, e.total))}%)${e.rate ? `, ${mb(e.rate)}/s` : ''}.`;
    case 'file.retry':
      return `Recording ${e.number}: ${e.message}`;
    case 'file.verified':
      return `${e.alreadyPresent ? `Recording ${e.number} verified` : `Recording ${e.number} copied and verified (${dur(e.durationMs)}${e.markers ? `, ${e.markers} marker${e.markers === 1 ? '' : 's'}` : ''})`}${e.timeEstimate ? `, started ${estimateText(e.timeEstimate)}` : ''}${signedText(e.signature)}${encryptionText(e.encryption)}: ${e.path}`;
    case 'file.failed':
      // A copy that does not verify is not a copy that failed: verify's message names the file.
      return (e.during === 'verify' ? `${e.message} ${e.action}` : `Recording ${e.number} NOT copied: ${e.message} ${e.action}`).trim();
    case 'journal.checked':
      return e.chain === 'ok'
        ? `Journal checked: ${e.total} record(s), chain intact${e.gaps.length ? `, ${e.gaps.length} gap(s)` : ''}.`
        : e.chain === 'empty'
          ? 'Journal is empty.'
          : `Journal check FAILED: ${e.problems.map((p) => p.message).join('; ')}.`;
    case 'link.disconnected':
    case 'link.waiting':
    case 'link.reconnected':
    case 'link.noise':
    case 'note':
    case 'wipe.done':
    case 'provision.step':
    case 'handback.done':
      return e.message;
    case 'provision.done':
      return `${e.ok ? 'Done' : 'Provisioning stopped'}: ${e.message}`;
    case 'warning':
      return `Warning: ${e.message}${e.action ? ' ' + e.action : ''}`;
    case 'error':
      return `Error: ${e.message}${e.action ? ' ' + e.action : ''}`;
    case 'sync.summary':
      return `${e.ok ? 'Done' : 'Finished with problems'}: ${e.message}`;
  }
}

/** Whether the copy is encrypted (issue 13); nothing when the engine did not say. */
function encryptionText(x: 'none' | 'decrypted' | 'encrypted-only' | undefined): string {
  if (x === 'none') return ', not encrypted';
  if (x === 'decrypted') return ', encrypted (decrypted WAV beside it)';
  if (x === 'encrypted-only') return ', encrypted (not decrypted on this computer)';
  return '';
}

/** ", signed by the recorder (key ...)" when its signature was checked, else nothing. */
function signedText(s: SignatureSummary | undefined): string {
  return s?.status === 'signed' ? `, signed by the recorder (key ${s.keyId})` : '';
}
