/**
 * The one-page hand-out `recorder provision` writes for the family (issue 16): what the light and
 * the button do with the settings this recorder was given, how long it records, who to call, the
 * loan code and the recorder's fingerprint. The same words as plain text and as an A4 PDF; the
 * wording follows docs/user-guide.md ("The button", "The light", "Discreet mode").
 */
import { BATTERY_MODEL, SAMPLE_RATES } from '../../../protocol/src/schema.js';
import { recordingBytesPerSecond, type ButtonSchemeName } from '../card-test.js';

export type ButtonScheme = ButtonSchemeName;

/**
 * Recording hours of a full cell: the protocol schema's BATTERY_MODEL, the figures INFO's
 * batterySecondsLeft comes from (firmware core/recording/power.c, hardware/power-budget.md), so
 * the hand-out promises what the recorder itself would say on a full charge. The top of each
 * current estimate, so the hours err short: a family plans a meeting around them.
 */
export function fullBatteryHours(cellMah: number, sampleRate: number, ledOn: boolean): number {
  const i = SAMPLE_RATES.indexOf(sampleRate as (typeof SAMPLE_RATES)[number]);
  const currentUa = BATTERY_MODEL.recordingCurrentUa[i < 0 ? SAMPLE_RATES.length - 1 : i]! + (ledOn ? BATTERY_MODEL.ledCurrentUa : 0);
  return (cellMah * BATTERY_MODEL.usablePermille) / currentUa;
}

export interface HandoutModel {
  /** The advocate's loan code (never a family's name). */
  loan: string;
  label: string;
  deviceId: string;
  /** The recorder's key fingerprint (16 hex digits), or null when it has no signing key. */
  fingerprint: string | null;
  /** Who to call ("NAME PHONE"), or null: "your advocate". */
  contact: string | null;
  sampleRate: number;
  discreet: boolean;
  buttonScheme: ButtonScheme;
  encrypted: boolean;
  /** Hours of recording the card's free space holds at this sample rate. */
  cardHours: number;
  /** When it was made (ISO); only the date is printed. */
  madeAtIso: string;
}

/** "0123456789abcdef" -> "0123 4567 89AB CDEF": easier to copy onto a case and to compare. */
export function fingerprintText(keyId: string): string {
  return keyId.toUpperCase().replace(/(.{4})(?=.)/g, '$1 ');
}

/** Hours of recording that fit in `freeBytes` at `sampleRate`. */
export function cardHoursFor(freeBytes: number, sampleRate: number, encrypted: boolean): number {
  return freeBytes / recordingBytesPerSecond(sampleRate, encrypted) / 3600;
}

/** The hours a full battery records at this rate and light setting (the small cell's estimate, and the large one's). */
export function batteryHours(sampleRate: number, discreet: boolean): { small: number; large: number } {
  return { small: fullBatteryHours(BATTERY_MODEL.smallCellMah, sampleRate, !discreet), large: fullBatteryHours(BATTERY_MODEL.largeCellMah, sampleRate, !discreet) };
}

const hoursText = (h: number) => (h >= 100 ? `more than ${Math.floor(h / 10) * 10}` : h >= 10 ? `about ${Math.floor(h)}` : `about ${Math.max(0, Math.floor(h * 2) / 2)}`);

export interface HandoutSection {
  heading: string;
  lines: string[];
}

/** The hand-out's sections, in plain words: the text and the PDF are both made from these. */
export function handoutSections(m: HandoutModel): { title: string; facts: { label: string; value: string }[]; sections: HandoutSection[] } {
  const battery = batteryHours(m.sampleRate, m.discreet);
  const button: string[] =
    m.buttonScheme === 'standard'
      ? [
          'Press once to start recording.',
          'While it records, a short press marks the moment: the light answers with one faint glow. The recording goes on.',
          'To ask whether it is recording, hold the button for one second and let go: one long faint glow means recording, two faint blinks mean not recording.',
          'To stop, hold the button down for two seconds, until the light gives three faint glows. Then let go.',
        ]
      : [
          'Press once to start recording.',
          'While it records, pressing the button changes nothing: a press or a brush of it can never stop the recording (this recorder is set up without markers).',
          'To ask whether it is recording, hold the button for one second and let go: one long faint glow means recording, two faint blinks mean not recording.',
          'To stop, hold the button down for two seconds, until the light gives three faint glows. Then let go.',
        ];
  const light: string[] = [
    m.discreet
      ? 'While it records, the light stays OFF (discreet mode). The short flash every 3 seconds stops: that is how you know it records.'
      : 'Steady on: it is recording.',
    'One short flash every 3 seconds: ready, not recording.',
    `Fast blinking (4 times a second): a problem (no card, card full, battery low). Charge it; if it still blinks fast, ${m.contact ? 'call the number below' : 'call your advocate'}.`,
  ];
  const howLong = [
    `A full battery records for ${hoursText(battery.small)} hours (an estimate; ${hoursText(battery.large)} hours if your advocate says it has the large battery). Charge it fully the night before every meeting: the small light by the USB socket goes out when it is full.`,
    `The memory card has room for ${hoursText(m.cardHours)} hours of recording.`,
    'When the battery gets low while it records, the recorder stops and keeps the recording by itself.',
  ];
  const care = [
    'Do not take the memory card out, and do not erase anything on it.',
    m.encrypted ? 'The recordings are locked (encrypted): only your advocate\'s computer can open them, so a lost recorder gives nothing away.' : 'The recordings are NOT locked (encrypted): keep the recorder safe.',
    `If it is lost, damaged, or gets hot, stop using it and ${m.contact ? 'call the number below' : 'tell your advocate'}.`,
    'Give it back to your advocate when the loan ends: they copy everything for you first.',
  ];
  const call = [m.contact ? m.contact : 'Your advocate.', `Say the loan code ${m.loan}.`];
  return {
    title: 'Your recorder',
    facts: [
      { label: 'Loan code', value: m.loan },
      { label: 'Recorder', value: `${m.label} (id ${m.deviceId})` },
      { label: 'Fingerprint', value: m.fingerprint ? `${fingerprintText(m.fingerprint)} (also written on the case)` : 'none (this recorder does not sign its recordings)' },
      { label: 'Set up on', value: m.madeAtIso.slice(0, 10) },
    ],
    sections: [
      { heading: 'The button', lines: button },
      { heading: 'The light', lines: light },
      { heading: 'How long it records', lines: howLong },
      { heading: 'Looking after it', lines: care },
      { heading: 'Who to call', lines: call },
    ],
  };
}

export function handoutText(m: HandoutModel): string {
  const h = handoutSections(m);
  const width = Math.max(...h.facts.map((f) => f.label.length));
  const out = [h.title.toUpperCase(), '', ...h.facts.map((f) => `${(f.label + ':').padEnd(width + 2)}${f.value}`)];
  for (const s of h.sections) out.push('', s.heading, ...s.lines.map((l) => `  - ${l}`));
  return out.join('\n') + '\n';
}

export async function handoutPdf(m: HandoutModel, appVersion: string): Promise<Buffer> {
  const h = handoutSections(m);
  // pdf-lib is loaded here, not at start-up: the CLI imports this module for fingerprintText,
  // and loading pdf-lib cost every command about 0.35 s of CPU.
  const { newPdf } = await import('../export/pdf.js');
  const { doc, L, fonts } = await newPdf(`${h.title} (${m.loan})`, appVersion);
  L.text(h.title, { font: fonts.bold, size: 20, gap: 6 });
  L.table(h.facts, { size: 11 });
  for (const s of h.sections) {
    L.heading(s.heading, 13);
    L.bullets(s.lines, 11);
  }
  return Buffer.from(await doc.save());
}
