/** The documents of a bundle made from its contents: VERIFY.txt, the report, the verifier page. */
import type { BundleSource } from './gather.js';
import { reportModel } from './report-model.js';
import { reportHtml } from './report.js';
import { verifierData, verifierHtml } from './verifier-page.js';
import { REPORT_HTML, REPORT_PDF, VERIFIER_HTML, VERIFY_TXT, verifyText } from './verify-text.js';

export async function documents(src: BundleSource, madeAtIso: string, appVersion: string): Promise<Record<string, Buffer | string>> {
  const model = await reportModel(src, madeAtIso, appVersion);
  // pdf-lib is loaded only here: at start-up it cost every command of the app about 0.3 s.
  const { reportPdf } = await import('./pdf.js');
  return {
    [VERIFY_TXT]: verifyText(src, madeAtIso),
    [REPORT_HTML]: reportHtml(model),
    [REPORT_PDF]: await reportPdf(model),
    [VERIFIER_HTML]: verifierHtml(verifierData(src, madeAtIso)),
  };
}
