/**
 * What each signature finding means and what to do about it, in words for someone who is not an
 * engineer (verify's plain output, its events, and the interactive app).
 */
import type { ProblemCode } from '../events.js';

export interface Advice {
  meaning: string;
  action: string;
}

const KEEP = 'Do not use this copy as evidence on its own. Keep it, the recorder and its card exactly as they are, and ask a solicitor or the project for advice.';

const ADVICE: Partial<Record<ProblemCode, Advice>> = {
  SIGNATURE_INVALID: { meaning: "the recorder's signature does not match: the recording or its signed files were changed after the recorder signed them", action: KEEP },
  WRONG_KEY: { meaning: 'it was signed by a different key from the one this library trusts for this recorder: it may come from another device', action: KEEP },
  HASH_MISMATCH: { meaning: 'a file is not the one the recorder signed: it was changed or damaged', action: 'Use another verified copy if you have one. ' + KEEP },
  TRUSTED_COMMENT_MISMATCH: { meaning: "the recorder's signed description (length, times, fingerprints) does not agree with the copy", action: KEEP },
  JOURNAL_MISMATCH: { meaning: "the recorder's signature names a journal entry that the library's journal does not hold: the journal or the manifest was changed", action: KEEP },
  CHECKPOINT_GAP: { meaning: 'the signed checkpoints made while recording are missing or do not match the audio', action: KEEP },
  EVIDENCE_MISSING: { meaning: "the recorder's signed files for this recording are missing from the library", action: 'Connect the recorder and run sync again if it still has the recording; otherwise ask for advice.' },
  SIGNATURE_PENDING: { meaning: 'the recorder had not finished signing this recording when it was copied', action: 'Connect the recorder and run sync again: the signature is then added to the copy.' },
  UNSIGNED_LEGACY: { meaning: 'the recorder made this recording without a signing key, because its software was older or it had not been set up yet, so only its fingerprints vouch for it', action: 'Nothing to do now. Keep the recorder and the copy as they are if the recording matters.' },
  PARTLY_VOUCHED: { meaning: 'the recording was cut off by a power loss: its end was signed only after the power came back', action: 'Mention this if you rely on the end of the recording.' },
  NOT_PINNED: { meaning: "the library does not hold this recorder's key, so its signatures cannot be checked", action: 'Verify the library folder the copy was made in (the recorder-*.pin.json file must be beside it).' },
  JOURNAL_TAIL_CUT: { meaning: "entries at the end of the recorder's journal are missing: the recorder had signed that it held more", action: KEEP },
  JOURNAL_REPLAYED: { meaning: "an older state of the recorder's journal was presented after a newer one had been signed", action: KEEP },
  JOURNAL_BROKEN: { meaning: "the library's copy of the recorder's journal does not link up: an entry was changed or removed", action: KEEP },
  RECORDING_MISSING: { meaning: "the recorder's journal lists a recording that is not in the library", action: 'Look for it in another library folder or on the recorder (run sync); if it was deleted, say so.' },
  ATTESTATION_INVALID: { meaning: "a stored proof of the recorder's identity does not verify: the library's record of it was changed", action: KEEP },
  CUSTODY_LOG_BROKEN: { meaning: "the library's record of what was done to its recordings (custody.log) was changed: an entry was edited, removed or inserted", action: 'The recordings themselves are checked separately. Keep the library as it is and ask for advice before relying on its history.' },
  MANIFEST_INVALID: { meaning: 'the description (.json) written beside the copy is missing, unreadable or was edited', action: 'Use another verified copy if you have one. ' + KEEP },
  WAV_INVALID: { meaning: 'the recording file is damaged', action: 'Use another verified copy if you have one. ' + KEEP },
  EVIDENCE_MISMATCH: { meaning: "the recording's own record inside the file does not agree with its description", action: KEEP },
  // issue 13: encrypted recordings
  NOT_DECRYPTED: { meaning: 'the recording is encrypted, and its WAV has not been made on this computer; the encrypted copy itself is checked', action: 'Decrypt it with `recorder decrypt N --identity FILE` (the owner key file) when you need to listen to it.' },
  WRONG_IDENTITY: { meaning: 'the recording is encrypted to another owner key than the one given', action: 'Give the owner key it was encrypted to (`recorder recipient` shows the key the recorder uses now).' },
  DECRYPT_FAILED: { meaning: 'the encrypted file fails its own checks: it was changed, cut short, or its parts were reordered after the recorder wrote it', action: 'Use another verified copy if you have one. ' + KEEP },
  OWNER_KEY: { meaning: "the owner's key file is missing, unreadable, or not an age key", action: 'Put the key file back from your backup, or give it with --identity FILE.' },
};

export function adviceFor(code: ProblemCode): Advice {
  return ADVICE[code] ?? { meaning: 'a check failed', action: KEEP };
}
