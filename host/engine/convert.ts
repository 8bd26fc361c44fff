/** Conversions from decoded protocol structs to the serialisable shapes of events.ts. */
import { CARD_STATE, INFO_FLAGS, PROTOCOL, RECORD_FLAGS, RECORDING_STATE, REC_STATE, STOP_REASON } from '../../protocol/src/schema.js';
import type { Info, ListEntry } from '../../protocol/generated/types.js';
import { buttonSchemeName } from './card-test.js';
import type { CardStateName, DeviceSummary, RecStateName, RecordingSummary, StopReasonName } from './events.js';

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export function deviceIdHex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16).padStart(16, '0');
}

export function recStateName(v: number): RecStateName {
  switch (v) {
    case REC_STATE.IDLE:
      return 'idle';
    case REC_STATE.RECORDING:
      return 'recording';
    case REC_STATE.FINALISING:
      return 'finalising';
    case REC_STATE.ERROR:
      return 'error';
    default:
      return 'unknown';
  }
}

export function cardStateName(v: number): CardStateName {
  switch (v) {
    case CARD_STATE.OK:
      return 'ok';
    case CARD_STATE.NONE:
      return 'none';
    case CARD_STATE.ERROR:
      return 'error';
    case CARD_STATE.UNFORMATTED:
      return 'unformatted';
    case CARD_STATE.FULL:
      return 'full';
    default:
      return 'unknown';
  }
}

const STOP_NAMES: Record<number, StopReasonName> = {
  [STOP_REASON.NONE]: 'none',
  [STOP_REASON.BUTTON]: 'button',
  [STOP_REASON.HOST]: 'host',
  [STOP_REASON.CARD_FULL]: 'card-full',
  [STOP_REASON.LOW_BATTERY]: 'low-battery',
  [STOP_REASON.POWER_LOSS]: 'power-loss',
  [STOP_REASON.CARD_ERROR]: 'card-error',
  [STOP_REASON.CARD_REMOVED]: 'card-removed',
  [STOP_REASON.MAX_LENGTH]: 'max-length',
};

export function stopReasonName(v: number): StopReasonName {
  return STOP_NAMES[v] ?? 'unknown';
}

export function firmwareVersion(i: Info): string {
  return `${i.fwMajor}.${i.fwMinor}.${i.fwPatch}`;
}

export function summariseInfo(i: Info): DeviceSummary {
  return {
    deviceId: deviceIdHex(i.deviceId),
    label: i.label,
    model: i.model,
    firmware: firmwareVersion(i),
    protocolVersion: i.protocolVersion,
    simulated: (i.flags & INFO_FLAGS.SIMULATED) !== 0,
    discreet: (i.flags & INFO_FLAGS.DISCREET) !== 0,
    clockSet: (i.flags & INFO_FLAGS.CLOCK_SET) !== 0,
    lowBattery: (i.flags & INFO_FLAGS.LOW_BATTERY) !== 0,
    encrypting: (i.flags & INFO_FLAGS.ENCRYPTING) !== 0,
    buttonScheme: buttonSchemeName(i.buttonScheme),
    batteryMv: i.batteryMv,
    recState: recStateName(i.recState),
    cardState: cardStateName(i.cardState),
    sampleRate: i.sampleRate,
    cardCapacity: i.cardCapacity.toString(),
    cardFree: i.cardFree.toString(),
    clockUnixMs: i.clockUnixMs.toString(),
    uptimeMs: i.uptimeMs.toString(),
    currentNumber: i.currentNumber,
    currentSamples: i.currentSamples,
    nextNumber: i.nextNumber,
    recordingCount: i.recordingCount,
    journalCount: i.journalCount,
    overrunsTotal: i.overrunsTotal,
    cardSecondsLeft: i.cardSecondsLeft === PROTOCOL.timeLeftUnknown ? null : i.cardSecondsLeft,
    batterySecondsLeft: i.batterySecondsLeft === PROTOCOL.timeLeftUnknown ? null : i.batterySecondsLeft,
    maxPayload: i.maxPayload,
    maxInFlight: i.maxInFlight,
    ...((i.flags & INFO_FLAGS.WIPE_PENDING) !== 0 ? { wipePending: true } : {}),
  };
}

export function durationMs(sampleCount: number, sampleRate: number): number {
  return sampleRate > 0 ? Math.round((sampleCount * 1000) / sampleRate) : 0;
}

export function summariseEntry(e: ListEntry): RecordingSummary {
  return {
    number: e.number,
    state: e.state === RECORDING_STATE.FINISHED ? 'finished' : e.state === RECORDING_STATE.RECORDING ? 'recording' : 'unknown',
    deviceName: e.name,
    size: e.size,
    dataOffset: e.dataOffset,
    sampleRate: e.sampleRate,
    sampleCount: e.sampleCount,
    durationMs: durationMs(e.sampleCount, e.sampleRate),
    startUnixMs: e.startUnixMs.toString(),
    stopReason: stopReasonName(e.stopReason),
    clockSet: (e.flags & RECORD_FLAGS.CLOCK_SET) !== 0,
    recovered: (e.flags & RECORD_FLAGS.RECOVERED) !== 0,
    encrypted: (e.flags & RECORD_FLAGS.ENCRYPTED) !== 0,
    sha256: hex(e.sha256),
  };
}

/** Makes any decoded struct JSON-friendly: bigint → string, Buffer → hex. */
export function jsonable(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (Array.isArray(v)) return v.map(jsonable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x)]));
  return v;
}
