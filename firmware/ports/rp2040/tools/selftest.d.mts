export interface Rp2040SelftestResult {
  status: number;
  output: string;
  timings: { name: string; cycles: number }[];
  cycles: number;
}
export function runRp2040Selftest(binPath: string, options?: { maxCycles?: number }): Rp2040SelftestResult;
