/**
 * The one definition of the recorder's wire protocol and on-card record formats.
 *
 * Everything else is derived from this file: the TypeScript codec reads it at run time, and
 * `npm run gen` writes the C header the firmware includes and the shared test vectors.
 * Change a layout here, run `npm run gen`, and commit the regenerated files with it.
 *
 * All integers are little-endian and fixed width. Text fields are UTF-8, padded with NUL bytes.
 */

export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'bytes' | 'text';

export interface FieldDef {
  readonly name: string;
  readonly type: FieldType;
  /** Byte length, only for `bytes` and `text`. */
  readonly size?: number;
  readonly doc?: string;
}

export interface StructDef {
  readonly fields: readonly FieldDef[];
  /**
   * What follows the fixed fields, if anything: raw bytes up to the end of the payload, or a run
   * of fixed-size records of another struct whose count is given by a field of this struct.
   */
  readonly tail?: { readonly kind: 'bytes'; readonly name: string } | { readonly kind: 'records'; readonly name: string; readonly struct: string; readonly countField: string };
  readonly doc: string;
}

const u8 = (name: string, doc?: string): FieldDef => ({ name, type: 'u8', doc });
const u16 = (name: string, doc?: string): FieldDef => ({ name, type: 'u16', doc });
const u32 = (name: string, doc?: string): FieldDef => ({ name, type: 'u32', doc });
const u64 = (name: string, doc?: string): FieldDef => ({ name, type: 'u64', doc });
const i64 = (name: string, doc?: string): FieldDef => ({ name, type: 'i64', doc });
const bytes = (name: string, size: number, doc?: string): FieldDef => ({ name, type: 'bytes', size, doc });
const text = (name: string, size: number, doc?: string): FieldDef => ({ name, type: 'text', size, doc });

/** Framing, limits and checksum parameters. */
export const PROTOCOL = {
  /** Protocol version carried in every frame header. */
  version: 1,
  /** Frames are COBS-encoded and each is followed by this delimiter byte. */
  delimiter: 0x00,
  /** Bytes of frame header before the payload. */
  headerSize: 8,
  /** Bytes of CRC-32 after the payload. */
  crcSize: 4,
  /** Every implementation accepts payloads of at least this size; HELLO may agree on more. */
  minMaxPayload: 4096,
  /** No implementation may send a payload larger than this, whatever HELLO said. */
  absoluteMaxPayload: 8192,
  /** Sequence number 0 is reserved for frames that answer no request (events, frame errors). */
  unsolicitedSeq: 0,
  /** Magic value the FORMAT request must carry, beside the device id, to be obeyed. */
  formatMagic: 0x54414d46, // "FMAT" little-endian
  /** Magic value the PROVISION request must carry. */
  provisionMagic: 0x564f5250, // "PROV" little-endian
  /** Magic value the WIPE request must carry, beside the device id, to be obeyed. */
  wipeMagic: 0x45504957, // "WIPE" little-endian
  /** Prefix of the message an IDENTITY signature covers: prefix || nonce || IDENTITY bytes before signature. */
  identityDomain: 'ER1-IDENTITY-v1',
  /** INFO.cardSecondsLeft / batterySecondsLeft when the device cannot tell (no card; a port that cannot measure its battery). */
  timeLeftUnknown: 0xffffffff,
  /** Smallest READ_CHECKED_REQ.blockSize (smaller: BAD_ARGUMENT, detail this): a table entry per 64 bytes is already 6 %. */
  minCheckedBlock: 64,
  /** USB identity of the recorder's CDC-ACM interface (pid.codes test range until registered). */
  usbVendorId: 0x1209,
  usbProductId: 0x7ec0,
  usbProduct: 'Evidence Recorder',
} as const;

/** CRC-32/ISO-HDLC (the zlib/Ethernet CRC), computed over header and payload. */
export const CRC32 = {
  poly: 0x04c11db7,
  polyReflected: 0xedb88320,
  init: 0xffffffff,
  xorOut: 0xffffffff,
  reflected: true,
  check: 0xcbf43926, // CRC of ASCII "123456789"
} as const;

/** Frame kinds (header byte 1). */
export const KIND = {
  REQUEST: 0,
  RESPONSE: 1,
  ERROR: 2,
  EVENT: 3,
} as const;

/** Frame header layout: offsets into the decoded (un-COBSed) frame. */
export const FRAME_HEADER: StructDef = {
  doc: 'Header at the start of every frame; the payload follows, then CRC-32 of header and payload.',
  fields: [
    u8('version', 'Protocol version (PROTOCOL.version).'),
    u8('kind', 'KIND: request, response, error or event.'),
    u16('seq', 'Chosen by the requester, echoed in the response; 0 for unsolicited frames.'),
    u16('command', 'COMMAND id (or EVENT id for events).'),
    u16('length', 'Payload length in bytes; must equal the frame length minus header and CRC.'),
  ],
};

/** Recorder states. */
export const REC_STATE = {
  IDLE: 0,
  RECORDING: 1,
  FINALISING: 2,
  ERROR: 3,
} as const;

/** Card states. */
export const CARD_STATE = {
  OK: 0,
  NONE: 1,
  ERROR: 2,
  UNFORMATTED: 3,
  FULL: 4,
} as const;

/** Why a recording stopped. Stored in journal records and LIST entries. */
export const STOP_REASON = {
  NONE: 0, // still recording
  BUTTON: 1,
  HOST: 2,
  CARD_FULL: 3,
  LOW_BATTERY: 4,
  POWER_LOSS: 5,
  CARD_ERROR: 6,
  CARD_REMOVED: 7,
  MAX_LENGTH: 8,
} as const;

/** State of a recording in a LIST entry. */
export const RECORDING_STATE = {
  RECORDING: 1,
  FINISHED: 2,
} as const;

/** Bits of INFO.flags. */
export const INFO_FLAGS = {
  SIMULATED: 0x01,
  DISCREET: 0x02,
  CLOCK_SET: 0x04,
  LOW_BATTERY: 0x08,
  /** An owner's recipient is set: new recordings are encrypted to it (age). */
  ENCRYPTING: 0x10,
  /** A wipe was cut by a power loss and could not be finished yet (no card, or the card failed): the device records nothing until a card is wiped. */
  WIPE_PENDING: 0x20,
  /** The device answers READ_CHECKED (a CRC-32 per block of a READ, issue 17); a host asks for it only when this is set. */
  READ_CHECKED: 0x40,
} as const;

/** Bits of journal record flags and LIST entry flags. */
export const RECORD_FLAGS = {
  CLOCK_SET: 0x01,
  RECOVERED: 0x02,
  /** LIST only: the signed statement files (.SHA, .SIG, .MSG) are on the card. */
  SEALED: 0x04,
  /** LIST only: finished, the statement is not written yet (the device is sealing it). */
  SEALING: 0x08,
  /** Recorded without a device key (never provisioned, or the key was damaged): never signed. */
  UNSIGNED: 0x10,
  /** The recording is an age file (REC*.AGE) encrypted to the owner's recipient; its plaintext is the WAV. */
  ENCRYPTED: 0x20,
} as const;

/**
 * What a journal record is about (JOURNAL_RECORD.kind). 0 is a recording, as on every card
 * written before kinds existed. The fields a kind uses beside index, prevHash and kind:
 * - RECORDING: all (the recording's stop, or its recovery at boot with flag RECOVERED).
 * - NUMBER_SPENT: number (spent in the device's own memory; no file was ever created for it).
 * - FOUND_UNJOURNALED: number, sampleRate, sampleCount, sha256, startUnixMs: a finished recording
 *   found on the card without its record (never written, or removed); never RECOVERED.
 * - TAIL_LOST: number = the first missing index, sampleCount = records missing, sha256 = the head
 *   hash the device expected: the card's journal was shorter than, or diverged from, the device's
 *   own count of its records.
 * - CLOCK_SET: startUnixMs = the clock before (0 when it was not set), stopUnixMs = the new clock,
 *   stopUptimeMs = when.
 * - CLOCK_LOST: stopUptimeMs (the uptime at the mount): the clock has been set at some time, and
 *   this boot found it lost. Journalled by every such boot at its first mount, before anything
 *   else it records, so the records after it (up to the next CLOCK_LOST) share one uptime count:
 *   the app places a recording made without a clock from it (host/engine/placement.ts).
 * - KEY_CREATED: sha256 = SHA-256 of the new device public key.
 * - EPOCH_START: the first record after the device formatted its card: number = the new epoch,
 *   sampleCount = the previous epoch's record count, sha256 = the previous epoch's head hash.
 * - MARKER: a marker dropped while recording (a short press, or MARK), appended as it is taken so
 *   a power cut loses none: number = the recording, sampleCount = the marker's sample offset from
 *   the recording's first sample, sampleRate = the recording's, overruns = the marker's number
 *   (1..n within the recording), startUnixMs = the recording's start (0 when the clock was not
 *   set), stopUnixMs / stopUptimeMs = when the marker was taken (stopUnixMs 0 without a clock).
 */
export const JOURNAL_KIND = {
  RECORDING: 0,
  NUMBER_SPENT: 1,
  FOUND_UNJOURNALED: 2,
  TAIL_LOST: 3,
  CLOCK_SET: 4,
  CLOCK_LOST: 5,
  KEY_CREATED: 6,
  EPOCH_START: 7,
  /** The card was wiped (WIPE): the record after the EPOCH_START of the epoch the wipe began; number = that epoch, sampleCount = blocks erased, sampleRate = WIPE_METHOD, flags RECOVERED when a boot finished it after a power cut. */
  WIPED: 8,
  /** A marker of the recording being made (see above); its cue point in the WAV at the finish. */
  MARKER: 9,
} as const;

/** Bits of IDENTITY.flags. */
export const IDENTITY_FLAGS = {
  /** The device holds a signing key (publicKey, keyId and signature are meaningful). */
  HAS_KEY: 0x01,
  /** A simulated device (simulator, QEMU): its key proves nothing about physical custody. */
  SIMULATED: 0x02,
  HAS_UNIQUE_ID: 0x04,
  /** The stored key failed its checks: the device records unsigned until re-provisioned. */
  DAMAGED: 0x08,
  /** The last PROVISION failed the entropy health checks: no key was made. */
  ENTROPY_FAILED: 0x10,
} as const;

/** Where the device key's randomness came from (IDENTITY.entropySource). */
export const ENTROPY_SOURCE = {
  NONE: 0,
  /** RP2040 ring-oscillator random bit, conditioned with SHA-256. */
  ROSC: 1,
  /** The operating system's generator (simulator: getrandom). */
  OS: 2,
  /** QEMU: the host's /dev/urandom through semihosting. */
  HOST_SEMIHOSTING: 3,
} as const;

/** Which file of a recording READ and HASH address (REC00042.WAV, .SHA, .SIG, .MSG, .CKP). */
export const FILE_PART = {
  AUDIO: 0,
  STATEMENT: 1,
  SIGNIFY: 2,
  MINISIGN: 3,
  CHECKPOINTS: 4,
} as const;

/** Kinds of entry in the device NVM state log (NVM_STATE_ENTRY.kind). */
export const NVM_STATE_KIND = {
  /** payload: u32 epoch, u32 journal record count, then the first 12 bytes of the head record's SHA-256. */
  JOURNAL_HEAD: 1,
  /** payload: u32 epoch, u32 index, then the first 12 bytes of the SHA-256 of a record about to be appended to the card. */
  JOURNAL_PENDING: 2,
  /** payload: u32 the lowest number the next recording may take (spent before its file exists). */
  NUMBER_FLOOR: 3,
  /** payload: u8 1 once the clock has been set (kept: every boot without a clock then journals CLOCK_LOST). */
  CLOCK: 4,
  /** payload: u32 recording number, then its 16-byte age file key (all zero: destroyed at sealing). Two slots, A and B (docs/design/encryption.md). */
  AGE_KEY_A: 5,
  /** payload: as AGE_KEY_A, the second slot. */
  AGE_KEY_B: 6,
  /** payload: the wipe under way (a boot resumes it): u32 the epoch it begins, u32 the previous epoch's count, 12 bytes of its head; empty when no wipe is under way. */
  WIPE_PENDING: 7,
} as const;

/** SET_RECIPIENT actions. */
export const RECIPIENT_ACTION = {
  GET: 0,
  SET: 1,
  CLEAR: 2,
} as const;

/** Bits of RECIPIENT.flags. */
export const RECIPIENT_FLAGS = {
  /** A recipient is set: recordings started from now on are encrypted to it. */
  SET: 0x01,
} as const;

/** WIPE.state. */
export const WIPE_STATE = {
  DONE: 1,
  /** A wipe cut by a power loss was finished now. */
  RESUMED: 2,
} as const;

/** WIPE.method: how the card's blocks were cleared. */
export const WIPE_METHOD = {
  /** The card's own erase (SD CMD32/33/38). */
  SD_ERASE: 1,
  /** Written over with zeros block by block (a card without erase). */
  OVERWRITE: 2,
  /** The block device zero-fills or punches holes (simulator image). */
  ZERO_FILL: 3,
} as const;

/** Bits of SETTINGS.setMask. */
export const SETTINGS_MASK = {
  SAMPLE_RATE: 0x01,
  DISCREET: 0x02,
  /** SETTINGS_REQ.buttonScheme (BUTTON_SCHEME). */
  BUTTON_SCHEME: 0x04,
} as const;

/**
 * What the button's gestures do (SETTINGS.buttonScheme, INFO.buttonScheme, SETTINGS_BLOB; 0 on
 * devices and settings from before schemes existed). STANDARD: a press starts, a press while
 * recording drops a marker, a 1 s hold asks, a 2 s hold stops. NO_MARKERS: the same, except that
 * a press while recording does nothing (for someone who fidgets with the device).
 */
export const BUTTON_SCHEME = {
  STANDARD: 0,
  NO_MARKERS: 1,
} as const;

/** CARD_TEST.fileSystem: the card's FAT32 volume as the device's last mount found it. */
export const CARD_FS_STATE = {
  /** Mounted cleanly: the last update before the mount had finished. */
  OK: 0,
  /** An update had been cut (power loss): the mount repaired the FAT copies or freed lost clusters. */
  REPAIRED: 1,
  /** The repair had to cut looping or cross-linked chains or directories, or could not walk the whole tree. */
  DAMAGED: 2,
} as const;

/** Hash algorithms for HASH. */
export const HASH_ALGORITHM = {
  SHA256: 1,
} as const;

/** RECORD actions. */
export const RECORD_ACTION = {
  START: 1,
  STOP: 2,
} as const;

/** Sample rates the device accepts. */
export const SAMPLE_RATES = [8000, 16000, 32000, 48000] as const;

/**
 * The battery model (hardware/power-budget.md, "Time left on the battery"), estimates until
 * measured: INFO.batterySecondsLeft (firmware core/recording/power.c) and the hours the
 * provisioning hand-out promises (host engine/provision/handout.ts) are both computed from these
 * figures, so the two say the same.
 */
export const BATTERY_MODEL = {
  /** The cells the board takes (hardware/README.md), mAh; the firmware counts on the small one unless built for the large. */
  smallCellMah: 400,
  largeCellMah: 1000,
  /** Share of a full cell's charge counted on, per mille (f_usable: ageing, cold). */
  usablePermille: 850,
  /**
   * Average current from the cell while recording with the LED off, microamperes, per sample rate
   * (SAMPLE_RATES' order): the top of each estimate, at the clock the RP2040 runs for that rate
   * (48 MHz up to 16 kHz, 64 MHz at 32 kHz, 80 MHz at 48 kHz), so the hours err short.
   */
  recordingCurrentUa: [18000, 22000, 32100, 42200],
  /** Added while the LED is steadily on (recording, not discreet), microamperes. */
  ledCurrentUa: 2000,
} as const;

/** Typed error codes carried by ERROR frames. */
export const ERROR_CODE = {
  UNKNOWN_COMMAND: 1,
  BAD_FRAME: 2,
  BAD_ARGUMENT: 3,
  NOT_FOUND: 4,
  BUSY: 5,
  CARD_ERROR: 6,
  HASH_MISMATCH: 7,
  NO_CARD: 8,
  CARD_FULL: 9,
  NOT_FINISHED: 10,
  BAD_VERSION: 11,
  TOO_LARGE: 12,
  CONFIRMATION_REQUIRED: 13,
  OUT_OF_RANGE: 14,
  BAD_STATE: 15,
  INTERNAL: 16,
  /** MARK: the recording already holds as many markers as the device keeps (detail: that limit). */
  MARKERS_FULL: 17,
} as const;

export const ERROR_TEXT: Record<keyof typeof ERROR_CODE, string> = {
  UNKNOWN_COMMAND: 'the device does not know this command',
  BAD_FRAME: 'the device received a damaged or malformed frame',
  BAD_ARGUMENT: 'a request field has an invalid value',
  NOT_FOUND: 'no such recording on the device',
  BUSY: 'the device is busy (recording or finishing a recording)',
  CARD_ERROR: 'the memory card reported an error',
  HASH_MISMATCH: 'the hash does not match the device\'s record',
  NO_CARD: 'no memory card in the device',
  CARD_FULL: 'the memory card is full',
  NOT_FINISHED: 'the recording is still in progress',
  BAD_VERSION: 'the device speaks another protocol version',
  TOO_LARGE: 'the request is larger than the device accepts',
  CONFIRMATION_REQUIRED: 'the confirmation token is missing or wrong',
  OUT_OF_RANGE: 'offset or length lies outside the recording',
  BAD_STATE: 'the device cannot do this in its current state',
  INTERNAL: 'internal device error',
  MARKERS_FULL: 'the recording holds as many markers as the device keeps',
};

/** Structs: message payloads and on-card records. */
export const STRUCTS = {
  ERROR: {
    doc: 'Payload of every ERROR frame.',
    fields: [u16('code', 'ERROR_CODE.'), u16('reserved'), u32('detail', 'Code-specific detail, e.g. the supported version or limit.')],
  },
  HELLO_REQ: {
    doc: 'Opens a session and agrees on the payload limit. The device answers with INFO.',
    fields: [u16('maxPayload', 'Largest payload the host accepts.'), u16('reserved')],
  },
  INFO_REQ: { doc: 'Asks for INFO again (no fields).', fields: [] },
  INFO: {
    doc: 'Device identity and state: the response to HELLO and INFO.',
    fields: [
      u8('protocolVersion'),
      u8('fwMajor'),
      u8('fwMinor'),
      u8('fwPatch'),
      u16('maxPayload', 'Agreed payload limit: min(host, device).'),
      u16('maxInFlight', 'Requests the host may keep in flight.'),
      u64('deviceId'),
      text('model', 16),
      text('label', 32),
      i64('clockUnixMs', 'Device wall clock in ms since 1970 (meaningful when CLOCK_SET).'),
      u64('uptimeMs'),
      u8('flags', 'INFO_FLAGS.'),
      u8('recState', 'REC_STATE.'),
      u8('cardState', 'CARD_STATE.'),
      u8('buttonScheme', 'BUTTON_SCHEME (0 on devices from before schemes).'),
      u16('batteryMv'),
      u16('reserved1'),
      u32('sampleRate'),
      u64('cardCapacity', 'Bytes.'),
      u64('cardFree', 'Bytes.'),
      u32('currentNumber', 'Recording in progress, 0 when idle.'),
      u32('currentSamples'),
      u32('nextNumber', 'Number the next recording will get.'),
      u32('recordingCount', 'Recordings on the card.'),
      u32('journalCount', 'Records in the journal.'),
      u32('overrunsTotal', 'Samples lost to buffer overruns since the card was formatted.'),
      u32('cardSecondsLeft', 'Recording time the card has room for at the current sample rate (and encryption), seconds; while recording, what is left of this recording\'s room. PROTOCOL.timeLeftUnknown without a card.'),
      u32('batterySecondsLeft', 'Recording time left on the battery by the cell model (hardware/power-budget.md), seconds: an estimate. PROTOCOL.timeLeftUnknown when the port cannot measure its battery.'),
    ],
  },
  SET_TIME_REQ: { doc: 'Sets the device wall clock.', fields: [i64('unixMs')] },
  SET_TIME: {
    doc: 'The clock as it was just before it was set, so the host can record the offset.',
    fields: [i64('previousUnixMs'), u8('previousSet', '1 when the clock had been set before.'), bytes('reserved', 7)],
  },
  LIST_REQ: {
    doc: 'One page of recordings with numbers greater than afterNumber, in ascending order.',
    fields: [u32('afterNumber'), u16('maxEntries'), u16('reserved')],
  },
  LIST: {
    doc: 'A page of recordings; ask again with the last number while `more` is 1.',
    fields: [u32('total', 'Recordings on the card.'), u16('count'), u8('more'), u8('reserved')],
    tail: { kind: 'records', name: 'entries', struct: 'LIST_ENTRY', countField: 'count' },
  },
  LIST_ENTRY: {
    doc: 'One recording.',
    fields: [
      u32('number'),
      u8('state', 'RECORDING_STATE.'),
      u8('flags', 'RECORD_FLAGS.'),
      u8('stopReason', 'STOP_REASON.'),
      u8('reserved'),
      text('name', 12, '8.3 file name, e.g. REC00042.WAV.'),
      u32('size', 'File size in bytes.'),
      u32('dataOffset', 'Offset of the audio samples in the file.'),
      u32('sampleRate'),
      u32('sampleCount'),
      i64('startUnixMs'),
      bytes('sha256', 32, 'SHA-256 of the audio data; zero while recording.'),
      u32('statementSize', 'Bytes of REC*.SHA (FILE_PART STATEMENT); 0 until sealed.'),
      u32('signifySize', 'Bytes of REC*.SIG; 0 until sealed.'),
      u32('minisignSize', 'Bytes of REC*.MSG; 0 until sealed.'),
      u32('checkpointsSize', 'Bytes of REC*.CKP (whole CHECKPOINT_SLOTs); 0 when unsigned.'),
    ],
  },
  READ_REQ: {
    doc: 'Reads bytes of a recording file. Several may be in flight; each is answered on its own.',
    fields: [u32('number'), u32('offset'), u32('length'), u8('part', 'FILE_PART: which file of the recording.'), bytes('reserved', 3)],
  },
  READ: {
    doc: 'The bytes read; fewer than asked only at the end of the file.',
    fields: [u32('number'), u32('offset')],
    tail: { kind: 'bytes', name: 'data' },
  },
  READ_CHECKED_REQ: {
    doc: 'READ with a check per block, so a host can keep the intact blocks of a damaged answer (INFO_FLAGS.READ_CHECKED).',
    fields: [
      u32('number'),
      u32('offset'),
      u32('length', 'Bytes to read; with the check table the answer must fit maxPayload (else TOO_LARGE, detail: the largest length at this blockSize).'),
      u8('part', 'FILE_PART: which file of the recording.'),
      u8('reserved'),
      u16('blockSize', 'Bytes per checked block, PROTOCOL.minCheckedBlock or more.'),
    ],
  },
  READ_CHECKED: {
    doc: 'The bytes read (fewer only at the end of the file), then one u32 per block of blockSize bytes (the last may be shorter): the CRC-32 of this frame (header, these fields, the data) up to the end of that block, the frame CRC\'s running value. Block i holds when the CRC-32 of its bytes continued from entry i - 1 (for the first block: from the CRC of the frame header and these fields) equals entry i.',
    fields: [u32('number'), u32('offset'), u16('dataLength', 'Bytes of data before the check table.'), u16('blockSize', 'As asked.')],
    tail: { kind: 'bytes', name: 'body' },
  },
  HASH_REQ: {
    doc: 'Hashes a byte range of a recording file on the device.',
    fields: [u32('number'), u8('algorithm', 'HASH_ALGORITHM.'), u8('part', 'FILE_PART.'), bytes('reserved', 2), u32('offset'), u32('length')],
  },
  HASH: {
    doc: 'The digest of the range.',
    fields: [u32('number'), u8('algorithm'), bytes('reserved', 3), u32('offset'), u32('length'), bytes('digest', 32)],
  },
  DELETE_REQ: {
    doc: 'Deletes a finished recording; refused unless sha256 equals the device\'s own record.',
    fields: [u32('number'), bytes('sha256', 32)],
  },
  DELETE: { doc: 'The recording was deleted.', fields: [u32('number')] },
  JOURNAL_REQ: { doc: 'Reads journal records from index fromIndex on.', fields: [u32('fromIndex'), u16('maxRecords'), u16('reserved')] },
  JOURNAL: {
    doc: 'Journal records, each JOURNAL_RECORD as stored on the card.',
    fields: [u32('total'), u32('fromIndex'), u16('count'), u16('reserved')],
    tail: { kind: 'records', name: 'records', struct: 'JOURNAL_RECORD', countField: 'count' },
  },
  SET_LABEL_REQ: { doc: 'Sets the device label (shown to people; UTF-8).', fields: [text('label', 32)] },
  SET_LABEL: { doc: 'The label was stored.', fields: [] },
  SETTINGS_REQ: {
    doc: 'Reads settings, and changes those named in setMask.',
    fields: [u8('setMask', 'SETTINGS_MASK.'), u8('discreet'), u8('buttonScheme', 'BUTTON_SCHEME.'), u8('reserved'), u32('sampleRate')],
  },
  SETTINGS: {
    doc: 'Settings now in force.',
    fields: [u8('discreet'), u8('buttonScheme', 'BUTTON_SCHEME (0 from devices before schemes).'), bytes('reserved', 2), u32('sampleRate')],
  },
  RECORD_REQ: { doc: 'Starts or stops a recording, as the button does.', fields: [u8('action', 'RECORD_ACTION.'), bytes('reserved', 3)] },
  RECORD: { doc: 'State after the action.', fields: [u8('recState'), bytes('reserved', 3), u32('number')] },
  FORMAT_REQ: {
    doc: 'Erases the card. Obeyed only when magic is PROTOCOL.formatMagic and deviceId is this device\'s.',
    fields: [u32('magic'), u32('reserved'), u64('deviceId')],
  },
  FORMAT: { doc: 'The card was formatted.', fields: [] },
  MARK_REQ: { doc: 'Drops a marker in the recording being made, as a short press of the button does (no fields).', fields: [] },
  CARD_TEST_REQ: {
    doc: 'Tests the card: writes a scratch file of `bytes` in free space, reads it back, compares, deletes it. Refused with BUSY while recording, NO_CARD without a mounted card, CARD_FULL (detail: the largest size it would test now) when free space is below bytes + CARD_LAYOUT.cardTestReserveBytes, BAD_ARGUMENT (detail: the cap) above CARD_LAYOUT.cardTestMaxBytes.',
    fields: [u32('bytes', 'Bytes to test, rounded up to whole 512-byte blocks; 0: CARD_LAYOUT.cardTestDefaultBytes.'), u32('seed', 'Seeds the test pattern (any value).')],
  },
  CARD_TEST: {
    doc: 'The card test\'s result. Times are the device\'s own uptime in ms; rates are bytes * 1000 / ms (bytes * 1000 when under 1 ms).',
    fields: [
      u64('capacityBytes', 'Bytes of the FAT32 volume.'),
      u64('freeBytes', 'Free bytes before the test (the scratch file is deleted again).'),
      u32('testedBytes'),
      u32('writeMs', 'From the first block written to the card\'s sync after the last.'),
      u32('readMs', 'Reading the blocks back and comparing them.'),
      u32('writeBytesPerSecond'),
      u32('readBytesPerSecond'),
      u32('firstMismatch', 'Byte offset of the first byte read back wrong; 0xFFFFFFFF when all matched.'),
      u8('fileSystem', 'CARD_FS_STATE.'),
      u8('readBackMatched', '1 when every byte read back as written.'),
      bytes('reserved', 2),
    ],
  },
  MARK: {
    doc: 'The marker just dropped. Errors: BAD_STATE when not recording, MARKERS_FULL when the recording holds the most markers it can.',
    fields: [
      u32('number', 'The recording.'),
      u32('marker', 'The marker\'s number in the recording, from 1 (its cue point id in the WAV).'),
      u32('sampleOffset', 'Samples from the recording\'s first sample to the moment the marker was taken.'),
      u32('sampleRate', 'The recording\'s sample rate.'),
    ],
  },
  STATE_EVENT: {
    doc: 'Sent unsolicited when the recorder state changes.',
    fields: [u8('recState'), u8('cardState'), u16('reserved'), u32('number'), u32('samples')],
  },
  JOURNAL_RECORD: {
    doc: 'One record of the append-only journal on the card; one per recording. Chained by prevHash.',
    fields: [
      bytes('magic', 4, 'ASCII "RJNL".'),
      u16('version', 'Record format version (1).'),
      u16('size', 'Record size in bytes (128).'),
      u32('index', 'Position in the journal, from 0.'),
      u32('number', 'Recording number; never reused.'),
      i64('startUnixMs'),
      i64('stopUnixMs'),
      u64('startUptimeMs'),
      u64('stopUptimeMs'),
      u32('sampleRate'),
      u32('sampleCount'),
      u8('stopReason', 'STOP_REASON.'),
      u8('flags', 'RECORD_FLAGS.'),
      u16('kind', 'JOURNAL_KIND (0: a recording).'),
      u32('overruns', 'Samples lost to buffer overruns in this recording.'),
      bytes('sha256', 32, 'SHA-256 of the audio data.'),
      bytes('prevHash', 32, 'SHA-256 of the previous record (all zero for the first).'),
    ],
  },
  CUE_POINT: {
    doc: 'On-card record: one point of the "cue " chunk (RIFF/WAV standard, 24 bytes); one per marker.',
    fields: [
      u32('name', 'dwName: the cue id, the marker\'s number from 1 (the labl chunk names it).'),
      u32('position', 'dwPosition: the sample offset.'),
      bytes('chunk', 4, 'fccChunk: ASCII "data".'),
      u32('chunkStart', 'dwChunkStart: 0.'),
      u32('blockStart', 'dwBlockStart: 0.'),
      u32('sampleOffset', 'dwSampleOffset: samples from the recording\'s first sample.'),
    ],
  },
  EVIDENCE_CHUNK: {
    doc: 'Payload of the trailing "evid" RIFF chunk written after the audio data at stop.',
    fields: [
      u16('version', 'Chunk format version (1).'),
      u16('size', 'Bytes of this fixed part (versions may append fields after it).'),
      u32('number'),
      u64('deviceId'),
      u32('sampleRate'),
      u32('sampleCount'),
      i64('startUnixMs'),
      u8('stopReason'),
      u8('flags'),
      u16('reserved'),
      u32('overruns'),
      bytes('sha256', 32, 'SHA-256 of the data chunk payload.'),
    ],
  },
  IDENTITY_REQ: {
    doc: 'Asks the device to prove its identity and its journal head: it signs the nonce with them.',
    fields: [bytes('nonce', 32, 'Fresh random bytes from the host.')],
  },
  IDENTITY: {
    doc: 'The device key and signed journal head. signature is Ed25519 over PROTOCOL.identityDomain, a NUL, the nonce, then this struct\'s bytes before signature; all zero without a key.',
    fields: [
      bytes('publicKey', 32, 'Ed25519 public key (zero without a key).'),
      bytes('keyId', 8, 'First 8 bytes of SHA-256(publicKey): the signify/minisign key id.'),
      bytes('uniqueId', 8, 'Hardware unique id (RP2040 flash id); zero when the port has none.'),
      u64('deviceId', 'The device id of INFO (kept on the card settings before keys existed).'),
      u8('entropySource', 'ENTROPY_SOURCE of the key.'),
      u8('flags', 'IDENTITY_FLAGS.'),
      u16('reserved'),
      u32('journalEpoch', 'Journal epoch: 1 at the first journal kept with a counter, +1 each time the device formats its card.'),
      u32('journalCount', 'Records in this epoch\'s journal, from the device\'s own memory (not the card).'),
      bytes('journalHead', 32, 'SHA-256 of the newest journal record (zero when none).'),
      i64('clockUnixMs', 'Wall clock (0 when not set).'),
      u64('uptimeMs'),
      bytes('signature', 64),
    ],
  },
  PROVISION_REQ: {
    doc: 'Makes the device key (answered with IDENTITY, signed over hostRandom as nonce). Refused with BAD_STATE when a key exists, unless flags bit 0 (force) is set.',
    fields: [u32('magic', 'PROTOCOL.provisionMagic.'), u8('flags', 'Bit 0: force (replace an existing key).'), bytes('reserved', 3), bytes('hostRandom', 32, 'From the host\'s CSPRNG, mixed into the seed.')],
  },
  SET_RECIPIENT_REQ: {
    doc: 'Reads, sets or clears the owner\'s age recipient (X25519 public key). Refused with BUSY while recording; takes effect at the next recording.',
    fields: [u8('action', 'RECIPIENT_ACTION.'), bytes('reserved', 3), bytes('recipient', 32, 'The 32 bytes inside an age1... recipient (SET only).')],
  },
  RECIPIENT: {
    doc: 'The recipient in force.',
    fields: [u8('flags', 'RECIPIENT_FLAGS.'), bytes('reserved', 3), bytes('recipient', 32, 'Zero when not set.')],
  },
  WIPE_REQ: {
    doc: 'Crypto-erases the device\'s recording keys and recipient and erases the card. Obeyed only when magic is PROTOCOL.wipeMagic, deviceId is this device\'s and recordings/newestNumber match what the device holds (else BAD_STATE); BUSY while recording.',
    fields: [u32('magic'), u32('recordings', 'Recordings the host saw in LIST.'), u32('newestNumber', 'Highest recording number the host saw (0: none).'), u32('reserved'), u64('deviceId')],
  },
  WIPE: {
    doc: 'The wipe is finished.',
    fields: [u8('state', 'WIPE_STATE.'), u8('method', 'WIPE_METHOD.'), u16('reserved'), u32('epoch', 'The journal epoch the wipe began.'), u32('blocksErased')],
  },
  CHECKPOINT_SLOT: {
    doc: 'On-card record: one 512-byte slot (one card block) of REC*.CKP. message is ASCII, space padded, ending in LF; signature is Ed25519 over the 448 message bytes.',
    fields: [bytes('message', 448), bytes('signature', 64)],
  },
  NVM_IDENTITY: {
    doc: 'Device NVM record (never on the card): the device key, one 256-byte page, two copies.',
    fields: [
      bytes('magic', 4, 'ASCII "RKEY".'),
      u16('version', '1.'),
      u16('size', '256.'),
      u32('flags', 'Bit 0 SIMULATED, bit 1 HOST_CONTRIBUTED.'),
      u8('entropySource', 'ENTROPY_SOURCE.'),
      bytes('reserved0', 3),
      u32('rawBits', 'Health report of the raw entropy: bits sampled,'),
      u32('ones', 'ones among them,'),
      u32('longestRun', 'longest run of equal bits,'),
      u32('transitions', 'and changes between neighbours.'),
      bytes('seed', 32, 'The Ed25519 seed (RFC 8032 private key).'),
      bytes('publicKey', 32),
      bytes('uniqueId', 8),
      bytes('keyId', 8),
      bytes('reserved1', 140, '0xFF (left unprogrammed).'),
      u32('crc32', 'CRC-32 of the bytes before it.'),
    ],
  },
  NVM_RECIPIENT: {
    doc: 'Device NVM record (never on the card): the owner\'s age recipient, at offset 0 of sectors 4 (copy A) and 5 (copy B).',
    fields: [
      bytes('magic', 4, 'ASCII "RRCP".'),
      u16('version', '1.'),
      u16('size', '64.'),
      u32('flags', 'RECIPIENT_FLAGS (SET 0x01); a cleared recipient is a record without SET and a zero key.'),
      bytes('recipient', 32, 'X25519 public key (the 32 bytes inside an age1... string).'),
      bytes('reserved', 16, '0xFF (left unprogrammed).'),
      u32('crc32', 'CRC-32 of the bytes before it.'),
    ],
  },
  AGE_FINAL: {
    doc: 'On-card record: block 128 of an encrypted recording\'s hold file REC*.HLD, in plaintext, written once at stop (or by recovery) before the last chunk and chunk 0 are encrypted, so that every retry encrypts the same plaintext (docs/design/encryption.md).',
    fields: [
      bytes('magic', 4, 'ASCII "RAGF".'),
      u16('version', '1.'),
      u16('size', '64.'),
      u32('number', 'Recording number.'),
      u32('dataBytes', 'Audio bytes in the WAV data chunk.'),
      u32('overruns', 'Samples lost to ring overflow (evid chunk).'),
      u8('stopReason', 'STOP_REASON.'),
      u8('flags', 'RECORD_FLAGS of the evid chunk.'),
      bytes('reserved', 6),
      bytes('sha256', 32, 'SHA-256 of the audio data (evid chunk).'),
      u32('crc32', 'CRC-32 of the bytes before it.'),
    ],
  },
  NVM_STATE_ENTRY: {
    doc: 'Device NVM record: one 32-byte entry of the append-only state log; the newest valid entry of each kind wins.',
    fields: [
      u8('magic', '0xA5.'),
      u8('kind', 'NVM_STATE_KIND.'),
      u8('length', 'Bytes of payload used.'),
      u8('reserved'),
      u32('sequence', 'Increases with every entry written.'),
      bytes('payload', 20),
      u32('crc32', 'CRC-32 of the bytes before it.'),
    ],
  },
  SETTINGS_BLOB: {
    doc: 'On-device record: the persistent settings blob, stored through the port (port_settings_load/save).',
    fields: [
      bytes('magic', 4, 'ASCII "RSET".'),
      u16('version', 'Blob format version (1).'),
      u16('size', 'Blob size in bytes (64).'),
      u64('deviceId'),
      text('label', 32),
      u32('sampleRate'),
      u8('discreet', '1 in discreet mode (LED off while recording).'),
      u8('buttonScheme', 'BUTTON_SCHEME; 0 (standard) in blobs from before schemes, whose reserved bytes were zero.'),
      bytes('reserved', 2),
      u32('nextNumber', 'Lowest number the next recording may take (numbers are never reused).'),
      u32('crc32', 'CRC-32 of the bytes before it.'),
    ],
  },
  STATE_MARKER: {
    doc: 'On-card record: the update marker (block 0 of SYSTEM/STATE.BIN), rewritten in place around every card update.',
    fields: [
      bytes('magic', 4, 'ASCII "RSTA".'),
      u16('version', 'Marker format version (1).'),
      u16('size', 'Bytes of the marker (64).'),
      u32('sequence', 'Incremented by every write.'),
      u8('flags', 'Bit 0: dirty (an update was started and not finished).'),
      bytes('reserved', 47),
      u32('crc32', 'CRC-32 of the bytes before it.'),
    ],
  },
  RP2040_SETTINGS_COPY: {
    doc: 'On-card record of the RP2040 port: the header of one 512-byte settings copy; the blob follows, CRC-32 of bytes 0..507 at 508.',
    fields: [
      bytes('magic', 4, 'ASCII "RPS1".'),
      u32('sequence', 'The copy with the higher sequence is the newer.'),
      u16('length', 'Bytes of blob (at most CARD_LAYOUT.rp2040SettingsMaxBlob).'),
      u16('reserved0'),
      bytes('reserved1', 4),
    ],
    tail: { kind: 'bytes', name: 'blob' },
  },
  QEMU_SETTINGS_COPY: {
    doc: 'On-card record of the QEMU port: the header of one settings copy in the card\'s last blocks; the blob follows.',
    fields: [
      bytes('magic', 4, 'ASCII "QMST".'),
      u32('sequence', 'The copy with the higher sequence is the newer.'),
      u32('length', 'Bytes of blob (at most a block less this header).'),
      u32('crc32', 'CRC-32 of sequence, length and blob.'),
    ],
    tail: { kind: 'bytes', name: 'blob' },
  },
  RIFF_CHUNK_HEADER: {
    doc: 'On-card record: the header of every RIFF chunk of a recording file (RIFF, fmt, bext, JUNK, data, evid).',
    fields: [bytes('id', 4, 'Four ASCII characters.'), u32('size', 'Bytes of chunk payload, without a pad byte.')],
  },
  WAV_FMT: {
    doc: 'On-card record: payload of the "fmt " chunk of a recording file (16-bit mono PCM).',
    fields: [
      u16('formatTag', '1: PCM.'),
      u16('channels', '1: mono.'),
      u32('sampleRate'),
      u32('byteRate', 'sampleRate * blockAlign.'),
      u16('blockAlign', '2.'),
      u16('bitsPerSample', '16.'),
    ],
  },
  BEXT: {
    doc: 'On-card record: the fixed part of the "bext" chunk (EBU Tech 3285 version 1); CodingHistory text follows.',
    fields: [
      text('description', 256),
      text('originator', 32, '"<model> <device id, 16 upper-case hex digits>".'),
      text('originatorReference', 32, '"<device id hex>-<number, at least 5 digits>".'),
      text('originationDate', 10, '"yyyy-mm-dd" UTC, "0000-00-00" when the clock is not set.'),
      text('originationTime', 8, '"hh:mm:ss" UTC.'),
      u64('timeReference', 'Samples since midnight UTC at the first sample.'),
      u16('version', '1.'),
      bytes('umid', 64),
      bytes('loudness', 10),
      bytes('reserved', 180),
    ],
    tail: { kind: 'bytes', name: 'codingHistory' },
  },
} as const satisfies Record<string, StructDef>;

export type StructName = keyof typeof STRUCTS;

/** Commands: id, request and response payloads. */
export const COMMANDS = {
  HELLO: { id: 0x01, request: 'HELLO_REQ', response: 'INFO' },
  INFO: { id: 0x02, request: 'INFO_REQ', response: 'INFO' },
  SET_TIME: { id: 0x03, request: 'SET_TIME_REQ', response: 'SET_TIME' },
  LIST: { id: 0x04, request: 'LIST_REQ', response: 'LIST' },
  READ: { id: 0x05, request: 'READ_REQ', response: 'READ' },
  HASH: { id: 0x06, request: 'HASH_REQ', response: 'HASH' },
  DELETE: { id: 0x07, request: 'DELETE_REQ', response: 'DELETE' },
  JOURNAL: { id: 0x08, request: 'JOURNAL_REQ', response: 'JOURNAL' },
  SET_LABEL: { id: 0x09, request: 'SET_LABEL_REQ', response: 'SET_LABEL' },
  SETTINGS: { id: 0x0a, request: 'SETTINGS_REQ', response: 'SETTINGS' },
  RECORD: { id: 0x0b, request: 'RECORD_REQ', response: 'RECORD' },
  FORMAT: { id: 0x0c, request: 'FORMAT_REQ', response: 'FORMAT' },
  IDENTITY: { id: 0x0d, request: 'IDENTITY_REQ', response: 'IDENTITY' },
  PROVISION: { id: 0x0e, request: 'PROVISION_REQ', response: 'IDENTITY' },
  SET_RECIPIENT: { id: 0x0f, request: 'SET_RECIPIENT_REQ', response: 'RECIPIENT' },
  WIPE: { id: 0x10, request: 'WIPE_REQ', response: 'WIPE' },
  MARK: { id: 0x11, request: 'MARK_REQ', response: 'MARK' },
  CARD_TEST: { id: 0x12, request: 'CARD_TEST_REQ', response: 'CARD_TEST' },
  READ_CHECKED: { id: 0x13, request: 'READ_CHECKED_REQ', response: 'READ_CHECKED' },
} as const satisfies Record<string, { id: number; request: StructName; response: StructName }>;

export type CommandName = keyof typeof COMMANDS;

/** Events: unsolicited frames from the device (kind EVENT, seq 0). */
export const EVENTS = {
  STATE: { id: 0x40, payload: 'STATE_EVENT' },
} as const satisfies Record<string, { id: number; payload: StructName }>;

/** On-card layout facts shared by firmware and app. */
export const CARD_LAYOUT = {
  recordingsDir: 'RECORDS',
  systemDir: 'SYSTEM',
  journalFile: 'JOURNAL.BIN',
  /** Recording file names: prefix + 5-digit number + extension. */
  recordingPrefix: 'REC',
  recordingDigits: 5,
  recordingExt: 'WAV',
  /** WAV header area: audio samples start at this offset so card writes are block aligned. */
  wavDataOffset: 1024,
  /** RIFF id of the trailing evidence chunk. */
  evidenceChunkId: 'evid',
  journalMagic: 'RJNL',
  /** Extensions of a recording's signed files beside REC*.WAV (FILE_PART). */
  statementExt: 'SHA',
  signifyExt: 'SIG',
  minisignExt: 'MSG',
  checkpointsExt: 'CKP',
  /** Extension of an encrypted recording (age v1; plaintext: the WAV). */
  encryptedExt: 'AGE',
  /** Hold file of an encrypted recording while it is recorded and finished: chunk 0 of the age
   * plaintext (WAV bytes 0..65535) encrypted under the hold key, then the AGE_FINAL block. Deleted
   * once the .AGE is complete (docs/design/encryption.md). */
  holdExt: 'HLD',
  nvmRecipientMagic: 'RRCP',
  ageFinalMagic: 'RAGF',
  /** Audio seconds between two signed checkpoints while recording. */
  checkpointIntervalS: 60,
  checkpointSlotSize: 512,
  nvmIdentityMagic: 'RKEY',
  nvmStateMagic: 0xa5,
  journalRecordVersion: 1,
  evidenceChunkVersion: 1,
  model: 'ER-1',
  /** RIFF ids of the recording file's chunks, in file order (evid: evidenceChunkId). */
  riffId: 'RIFF',
  waveId: 'WAVE',
  fmtChunkId: 'fmt ',
  bextChunkId: 'bext',
  junkChunkId: 'JUNK',
  dataChunkId: 'data',
  /** Markers, between the data chunk (and its pad byte) and evid, only when there is at least one:
   * a standard "cue " chunk (u32 count, then count CUE_POINT), then a "LIST" chunk of type "adtl"
   * holding one "labl" sub-chunk per point (u32 cue id, the NUL-terminated label, padded to even). */
  cueChunkId: 'cue ',
  listChunkId: 'LIST',
  adtlListType: 'adtl',
  lablChunkId: 'labl',
  /** A marker's label: this prefix and its number ("Marker 3"). */
  markerLabelPrefix: 'Marker ',
  /** The most markers a recording holds; a press beyond it is refused (MARK: MARKERS_FULL). */
  maxMarkers: 99,
  /** Where the chunks start: fmt right after "RIFF" size "WAVE", bext after fmt. */
  fmtChunkOffset: 12,
  bextChunkOffset: 36,
  bextVersion: 1,
  /** The update marker (STATE_MARKER) file. */
  stateFile: 'STATE.BIN',
  stateMarkerMagic: 'RSTA',
  stateMarkerVersion: 1,
  /** The settings blob (SETTINGS_BLOB). */
  settingsMagic: 'RSET',
  settingsVersion: 1,
  /** Sample rate of a new device (one of SAMPLE_RATES). */
  defaultSampleRate: 16000,
  /** RP2040 port: one settings copy per 512-byte block (RP2040_SETTINGS_COPY). */
  rp2040SettingsMagic: 'RPS1',
  rp2040SettingsMaxBlob: 480,
  rp2040SettingsCrcOffset: 508,
  /** QEMU port: one settings copy per block in the card's last two blocks (QEMU_SETTINGS_COPY). */
  qemuSettingsMagic: 'QMST',
  /** CARD_TEST's scratch file (removed at the next mount when a power cut left it). */
  cardTestFile: 'CARDTEST.TMP',
  /** CARD_TEST sizes: the default, the largest, and the free space it always leaves beside it. */
  cardTestDefaultBytes: 4 * 1024 * 1024,
  cardTestMaxBytes: 64 * 1024 * 1024,
  cardTestReserveBytes: 8 * 1024 * 1024,
} as const;

/** Enumerations whose value names the firmware and the app print (lower case, spaces for _). */
export const NAMED_ENUMS = {
  REC_STATE,
  CARD_STATE,
  STOP_REASON,
  JOURNAL_KIND,
} as const;

const FIXED_SIZES: Record<Exclude<FieldType, 'bytes' | 'text'>, number> = { u8: 1, u16: 2, u32: 4, u64: 8, i64: 8 };

export function fieldSize(f: FieldDef): number {
  if (f.type === 'bytes' || f.type === 'text') {
    if (f.size === undefined) throw new Error(`field ${f.name} needs a size`);
    return f.size;
  }
  return FIXED_SIZES[f.type];
}

/** Size of the fixed part of a struct. */
export function structSize(def: StructDef): number {
  return def.fields.reduce((n, f) => n + fieldSize(f), 0);
}

/** Offset of every field of a struct. */
export function fieldOffsets(def: StructDef): Map<string, number> {
  const m = new Map<string, number>();
  let off = 0;
  for (const f of def.fields) {
    m.set(f.name, off);
    off += fieldSize(f);
  }
  return m;
}
