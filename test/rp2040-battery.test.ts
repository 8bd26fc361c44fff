/**
 * Battery while recording on the real device's image (issue 16; docs/rp2040.md, "Battery while
 * recording"): the RP2040 firmware on rp2040js. The ADC converts the microphone (ADC0) and the
 * battery (ADC3) in round-robin while recording; the harness lowers the battery's voltage
 * during a recording: INFO shows the new voltage while the recording goes on, and once it is
 * under the stop threshold the core stops the recording with stop reason LOW_BATTERY. The audio
 * is the fed signal with no sample lost or repeated (the battery conversions never reach it).
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INFO_FLAGS, RECORDING_STATE, RECORD_ACTION, REC_STATE, STOP_REASON } from '../protocol/src/schema.js';
import { Board, Signal, makeCard, requireRp2040Image, syncFile } from './support/rp2040.js';
import { parseRecording } from './support/recording.js';
import { requireTool, stopAll, tempDir } from './support/sim.js';

const RATE = 16000;
const STOP_MV = 3300; // REC_BATTERY_STOP_MV (firmware/core/app/include/rec/app.h)
/** A reading is the 12-bit code of half the voltage: one code is 1.6 mV of battery. */
const READING_TOLERANCE_MV = 5;

let firmware: Uint8Array;
beforeAll(() => {
  firmware = requireRp2040Image();
  requireTool('mkfs.fat', 'dosfstools');
});

const boards: Board[] = [];
afterEach(async () => {
  for (const b of boards.splice(0)) await b.stop();
  await stopAll();
});

describe('RP2040 battery while recording (rp2040js)', () => {
  it('reads the battery during a recording without a gap in the audio, and stops with LOW_BATTERY when it runs low', async () => {
    const { card } = makeCard(tempDir('rec-rp2040-batt-'));
    const signal = new Signal();
    const b = new Board({ firmware, card, mic: signal.next, batteryMv: 3900, echo: process.env.REC_RP2040_ECHO === '1' });
    boards.push(b);
    await b.until('USB enumeration', () => b.connected, 10_000);
    await b.ok('HELLO', { maxPayload: 4096 });
    await b.ok('RECORD', { action: RECORD_ACTION.START }, 30_000);

    let info = await b.ok('INFO');
    while (Number(info.currentSamples) < 2 * RATE) {
      await b.sleep(500);
      info = await b.ok('INFO');
    }
    expect(Math.abs(Number(info.batteryMv) - 3900)).toBeLessThanOrEqual(READING_TOLERANCE_MV);

    // While recording, the ADC converts the battery once per microphone sample.
    const mic0 = b.micSamples;
    const battery0 = b.batterySamples;
    b.setBatteryMv(3600);
    await b.sleep(1500);
    info = await b.ok('INFO');
    expect(info.recState).toBe(REC_STATE.RECORDING);
    expect(Math.abs(Number(info.batteryMv) - 3600)).toBeLessThanOrEqual(READING_TOLERANCE_MV);
    const mics = b.micSamples - mic0;
    expect(mics).toBeGreaterThan(RATE);
    expect(Math.abs(b.batterySamples - battery0 - mics)).toBeLessThanOrEqual(1);

    // Under the stop threshold: the core stops the recording at its next reading (once a second).
    const samplesBefore = Number(info.currentSamples);
    b.setBatteryMv(3200);
    const dropped = b.nowMs;
    await b.until('the low-battery stop', () => b.uart.includes('battery low'), 3_000);
    info = await b.ok('INFO', {}, 30_000);
    while (info.recState !== REC_STATE.IDLE) {
      await b.sleep(200);
      info = await b.ok('INFO', {}, 30_000);
    }
    console.log(`rp2040 battery: low-battery stop ${(b.nowMs - dropped).toFixed(0)} ms (emulated) after the drop; ${(b.instructions / 1e6).toFixed(0)} M instructions, CPU asleep ${((100 * b.sleptNs) / (b.nowMs * 1e6)).toFixed(0)}% of the time`);
    expect(Number(info.flags) & INFO_FLAGS.LOW_BATTERY).toBe(INFO_FLAGS.LOW_BATTERY);
    expect(Number(info.batteryMv)).toBeLessThan(STOP_MV);
    expect(Number(info.overrunsTotal)).toBe(0);

    const [e] = (await b.ok('LIST', { afterNumber: 0, maxEntries: 4 })).entries as Record<string, unknown>[];
    expect(e!.state).toBe(RECORDING_STATE.FINISHED);
    expect(e!.stopReason).toBe(STOP_REASON.LOW_BATTERY);
    const samples = Number(e!.sampleCount);
    // The stop came while recording, within about a second and a half of the drop.
    expect(samples).toBeGreaterThan(samplesBefore);
    expect(samples).toBeLessThan(samplesBefore + 2 * RATE);

    // Every sample the fed signal, in order: the battery conversions are not in the audio.
    const { data, evid } = parseRecording(await syncFile(b, 1, Number(e!.size)));
    expect(data.length / 2).toBe(samples);
    signal.expectContiguous(data);
    const sha = createHash('sha256').update(data).digest();
    expect((e!.sha256 as Buffer).equals(sha)).toBe(true);
    expect((evid.sha256 as Buffer).equals(sha)).toBe(true);
  }, 150_000);
});
