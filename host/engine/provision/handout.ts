/**
 * The one-page hand-out `recorder provision` writes for the family (issue 16): what the light and
 * the button do with the settings this recorder was given, how long it records, who to call, the
 * loan code and the recorder's fingerprint. The same words as plain text and as an A4 PDF; the
 * wording follows docs/user-guide.md ("The button", "The light", "Discreet mode").
 */
import { recordingBytesPerSecond, type ButtonSchemeName } from '../card-test.js';

export type ButtonScheme = ButtonSchemeName;

/**
 * Recording hours of a full cell, the low end of hardware/power-budget.md's estimates (48 MHz,
 * the LED on while recording: 14-23 h for 400 mAh, 35-57 h for 1000 mAh; with the LED off the
 * low end is an hour more for the small cell, 39 h for the large one). The low end, because a
 * family plans a meeting around it.
 */
export const BATTERY_HOURS_ESTIMATE = {
  '400 mAh': { lightOn: 14, lightOff: 15 },
  '1000 mAh': { lightOn: 35, lightOff: 39 },
} as const;

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

/** The hours a full battery records, for this light setting (the small cell's estimate, and the large one's). */
export function batteryHours(discreet: boolean): { small: number; large: number } {
  const k = discreet ? 'lightOff' : 'lightOn';
  return { small: BATTERY_HOURS_ESTIMATE['400 mAh'][k], large: BATTERY_HOURS_ESTIMATE['1000 mAh'][k] };
}

const hoursText = (h: number) => (h >= 100 ? `more than ${Math.floor(h / 10) * 10}` : h >= 10 ? `about ${Math.floor(h)}` : `about ${Math.max(0, Math.floor(h * 2) / 2)}`);

export interface HandoutSection {
  heading: string;
  lines: string[];
}

/** The hand-out's sections, in plain words: the text and the PDF are both made from these. */
export function handoutSections(m: HandoutModel): { title: string; facts: { label: string; value: string }[]; sections: HandoutSection[] } {
  const battery = batteryHours(m.discreet);
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
    `A full battery records for ${hoursText(battery.small)} hours (an estimate; about ${battery.large} hours if your advocate says it has the large battery). Charge it fully the night before every meeting: the small light by the USB socket goes out when it is full.`,
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
