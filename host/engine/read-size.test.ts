import { describe, expect, test } from 'vitest';
import { MIN_READ, ReadSizer, bestReadPlan, bestReadSize, checkedYield, readYield } from './read-size.js';

const MAX = 4088;

describe('READ size', () => {
  test('the best size maximises the modelled yield, and is the largest on a clean link', () => {
    expect(bestReadSize(0, MAX)).toBe(MAX);
    expect(bestReadSize(1e-7, MAX)).toBe(MAX);
    for (const p of [1e-5, 3e-5, 1e-4, 3e-4]) {
      const s = bestReadSize(p, MAX);
      for (const other of [MIN_READ, 1024, 2048, MAX, s - 50, s + 50]) {
        if (other >= MIN_READ && other <= MAX) expect(readYield(s, p)).toBeGreaterThanOrEqual(readYield(other, p) - 1e-12);
      }
    }
    expect(bestReadSize(1e-5, MAX)).toBeGreaterThan(1400);
    expect(bestReadSize(1e-5, MAX)).toBeLessThan(2500);
    expect(bestReadSize(1e-4, MAX)).toBeLessThan(1024);
    expect(bestReadSize(1e-2, MAX)).toBe(MIN_READ);
    // the modelled yield at 1e-4: about 0.90 at the best size against 0.66 with 4 KiB
    expect(readYield(bestReadSize(1e-4, MAX), 1e-4)).toBeGreaterThan(0.89);
    expect(readYield(MAX, 0)).toBeGreaterThan(0.99);
    expect(readYield(MAX, 1e-4)).toBeLessThan(0.67);
  });

  test('the sizer shrinks under noise, and grows back once the link is clean', () => {
    const sizer = new ReadSizer(MAX);
    expect(sizer.next()).toBe(MAX);
    // one early loss is not a noisy link
    sizer.lostToNoise(MAX);
    expect(sizer.next()).toBeGreaterThan(3000);
    // a byte error rate of 1e-4: READs lost in the proportion their size gives, spread evenly
    let due = 0;
    for (let i = 0; i < 1000; i++) {
      const s = sizer.next();
      due += 1 - (1 - 1e-4) ** (s + 60);
      if (due >= 1) {
        due -= 1;
        sizer.lostToNoise(s);
      } else sizer.answered(s);
    }
    expect(sizer.next()).toBeLessThan(1024);
    expect(sizer.errorRate).toBeGreaterThan(5e-5);
    // clean again: back to the largest within about 16 MB
    let bytes = 0;
    while (sizer.next() < MAX && bytes < 16 << 20) {
      bytes += sizer.next();
      sizer.answered(sizer.next());
    }
    expect(sizer.next()).toBe(MAX);
    expect(bytes).toBeGreaterThan(1 << 20);
  });

  test('a fixed size (min = max) never changes', () => {
    const sizer = new ReadSizer(1024, 1024);
    for (let i = 0; i < 100; i++) sizer.lostToNoise(1024);
    expect(sizer.next()).toBe(1024);
  });

  test('READ_CHECKED is planned only where it delivers more: never clean, large READs with small blocks under noise', () => {
    const PAYLOAD = 4096;
    expect(bestReadPlan(0, MAX, MIN_READ, PAYLOAD)).toEqual({ length: MAX, blockSize: 0 });
    expect(bestReadPlan(1e-6, MAX, MIN_READ, PAYLOAD)).toEqual({ length: MAX, blockSize: 0 });
    // a device without it, or a fixed size, keeps plain READs
    expect(bestReadPlan(1e-4, MAX).blockSize).toBe(0);
    expect(bestReadPlan(1e-4, 1024, 1024, PAYLOAD)).toEqual({ length: 1024, blockSize: 0 });
    for (const [p, block, atLeast] of [
      [1e-5, 512, 0.975],
      [1e-4, 256, 0.94],
      [3e-4, 128, 0.9],
    ] as const) {
      const plan = bestReadPlan(p, MAX, MIN_READ, PAYLOAD);
      expect(plan.blockSize).toBe(block);
      expect(plan.length).toBeGreaterThan(3900);
      const y = checkedYield(plan.length, plan.blockSize, p);
      expect(y).toBeGreaterThan(atLeast);
      expect(y).toBeGreaterThan(readYield(bestReadSize(p, MAX), p) + 0.009);
    }
  });

  test('damaged blocks of a kept answer count as errors in the estimate', () => {
    const sizer = new ReadSizer(MAX, MIN_READ, 4096);
    for (let i = 0; i < 200; i++) sizer.answered(4020, 256, i % 2);
    expect(sizer.errorRate).toBeGreaterThan(5e-5);
    expect(sizer.plan().blockSize).toBeGreaterThan(0);
  });
});
