import { recipientBytes } from '../../host/engine/privacy/recipient.js';

/** The 32-byte X25519 key inside an `age1...` recipient (the app's own bech32 decoding, checksum
 * included); a test fixture that is not one fails loudly. */
export function ageRecipientBytes(recipient: string): Buffer {
  const bytes = recipientBytes(recipient);
  if (!bytes) throw new Error(`not an age X25519 recipient: ${recipient}`);
  return bytes;
}
