/** The documents of a bundle made from its contents: VERIFY.txt, the report, the verifier page. */
import type { BundleSource } from './gather.js';
import { VERIFY_TXT, verifyText } from './verify-text.js';

export async function documents(src: BundleSource, madeAtIso: string, _appVersion: string): Promise<Record<string, Buffer | string>> {
  return { [VERIFY_TXT]: verifyText(src, madeAtIso) };
}
