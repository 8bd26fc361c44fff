/** Finding recorders: USB ids through SerialPort.list(), a /dev/ttyACM* fallback, or --port. */
import { readdir } from 'node:fs/promises';
import { PROTOCOL } from '../../protocol/src/schema.js';
import { EngineError } from './errors.js';

export interface PortInfoLike {
  path: string;
  vendorId?: string | undefined;
  productId?: string | undefined;
  manufacturer?: string | undefined;
  pnpId?: string | undefined;
  serialNumber?: string | undefined;
  product?: string | undefined;
}

export interface Candidate {
  port: string;
  source: 'usb' | 'fallback' | 'explicit';
  description: string;
}

export interface DiscoveryResult {
  candidates: Candidate[];
  /** Plain notes for the user (e.g. udevadm missing). */
  notes: string[];
}

export interface DiscoveryOptions {
  listPorts?: () => Promise<PortInfoLike[]>;
  listFallback?: () => Promise<string[]>;
}

function hexId(s: string | undefined): number | null {
  if (!s) return null;
  const n = parseInt(s.trim().toLowerCase().replace(/^0x/, ''), 16);
  return Number.isFinite(n) ? n : null;
}

export function isRecorder(p: PortInfoLike): boolean {
  if (hexId(p.vendorId) === PROTOCOL.usbVendorId && hexId(p.productId) === PROTOCOL.usbProductId) return true;
  const product = PROTOCOL.usbProduct.toLowerCase();
  const names = [p.product, p.pnpId, p.manufacturer].filter((x): x is string => !!x).map((x) => x.toLowerCase().replace(/_/g, ' '));
  return names.some((n) => n.includes(product));
}

async function defaultList(): Promise<PortInfoLike[]> {
  const { SerialPort } = await import('serialport');
  return SerialPort.list();
}

async function defaultFallback(): Promise<string[]> {
  try {
    return (await readdir('/dev')).filter((n) => /^ttyACM\d+$/.test(n)).sort().map((n) => `/dev/${n}`);
  } catch {
    return [];
  }
}

export async function discover(opts: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const notes: string[] = [];
  let ports: PortInfoLike[] | null = null;
  try {
    ports = await (opts.listPorts ?? defaultList)();
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    notes.push(
      /udevadm/.test(msg)
        ? 'This system cannot list USB devices (udevadm is missing), so only /dev/ttyACM* ports were tried. Use --port to name the recorder\'s port.'
        : `Listing serial ports failed (${msg}), so only /dev/ttyACM* ports were tried. Use --port to name the recorder's port.`,
    );
  }
  if (ports) {
    return {
      candidates: ports.filter(isRecorder).map((p) => ({ port: p.path, source: 'usb' as const, description: [PROTOCOL.usbProduct, p.serialNumber ? `serial ${p.serialNumber}` : ''].filter(Boolean).join(', ') })),
      notes,
    };
  }
  const acm = await (opts.listFallback ?? defaultFallback)();
  return { candidates: acm.map((port) => ({ port, source: 'fallback' as const, description: 'USB serial port (not identified)' })), notes };
}

/** Picks one port: --port always wins; several need a chooser (interactive) or --port. */
export async function choosePort(
  opts: DiscoveryOptions & { port?: string; choose?: (c: Candidate[]) => Promise<string | null> },
): Promise<{ candidate: Candidate; notes: string[]; all: Candidate[] }> {
  if (opts.port) return { candidate: { port: opts.port, source: 'explicit', description: 'port given with --port' }, notes: [], all: [] };
  const { candidates, notes } = await discover(opts);
  if (candidates.length === 0) {
    throw new EngineError('NO_DEVICE', `No recorder was found.${notes.length ? ' ' + notes.join(' ') : ''}`, 'Plug the recorder in with a data cable and switch it on, then try again (or name its port with --port).');
  }
  if (candidates.length === 1) return { candidate: candidates[0]!, notes, all: candidates };
  if (opts.choose) {
    const picked = await opts.choose(candidates);
    const c = candidates.find((x) => x.port === picked);
    if (c) return { candidate: c, notes, all: candidates };
    throw new EngineError('CANCELLED', 'No recorder was chosen.', '');
  }
  throw new EngineError('SEVERAL_DEVICES', `${candidates.length} recorders are connected (${candidates.map((c) => c.port).join(', ')}).`, 'Say which one with --port PATH, or unplug the others.');
}
