import { describe, expect, test } from 'vitest';
import { choosePort, discover, isRecorder } from './discovery.js';
import type { EngineError } from './errors.js';

const ours = { path: '/dev/ttyACM0', vendorId: '1209', productId: '7EC0' };

describe('discovery', () => {
  test('matches USB ids case-insensitively, and the product name', () => {
    expect(isRecorder(ours)).toBe(true);
    expect(isRecorder({ path: 'x', vendorId: '0x1209', productId: '7ec0' })).toBe(true);
    expect(isRecorder({ path: 'x', vendorId: '1209', productId: '7ec1' })).toBe(false);
    expect(isRecorder({ path: 'x', pnpId: 'usb-Evidence_Recorder_0001-if00' })).toBe(true);
    expect(isRecorder({ path: 'x', vendorId: '2341', productId: '0043' })).toBe(false);
  });

  test('falls back to /dev/ttyACM* with a note when udevadm is missing', async () => {
    const r = await discover({ listPorts: () => Promise.reject(new Error('spawn udevadm ENOENT')), listFallback: async () => ['/dev/ttyACM3'] });
    expect(r.candidates).toEqual([{ port: '/dev/ttyACM3', source: 'fallback', description: expect.any(String) }]);
    expect(r.notes[0]).toMatch(/udevadm is missing/);
  });

  test('--port always wins; none found and several found are plain errors', async () => {
    const listPorts = async () => [ours, { ...ours, path: '/dev/ttyACM1' }, { path: '/dev/ttyS0' }];
    expect((await choosePort({ port: '/tmp/link', listPorts })).candidate).toMatchObject({ port: '/tmp/link', source: 'explicit' });
    const several = (await choosePort({ listPorts }).catch((e: unknown) => e)) as EngineError;
    expect(several.code).toBe('SEVERAL_DEVICES');
    expect(several.action).toMatch(/--port/);
    expect((await choosePort({ listPorts, choose: async (c) => c[1]!.port })).candidate.port).toBe('/dev/ttyACM1');
    const none = (await choosePort({ listPorts: async () => [{ path: '/dev/ttyS0' }] }).catch((e: unknown) => e)) as EngineError;
    expect(none.code).toBe('NO_DEVICE');
    expect((await choosePort({ listPorts: async () => [ours] })).candidate.port).toBe('/dev/ttyACM0');
  });
});
