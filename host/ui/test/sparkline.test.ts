import { describe, expect, it } from 'vitest';
import { SPARK_CHARS, sparkline } from '../sparkline.js';

describe('sparkline', () => {
  it('maps 0..1 onto the eight block characters and clamps the rest', () => {
    expect(sparkline([0, 1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1])).toBe(SPARK_CHARS.join(''));
    expect(sparkline([-1, 2, Number.NaN])).toBe('▁█▁');
  });
});
