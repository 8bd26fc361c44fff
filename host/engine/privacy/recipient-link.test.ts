/**
 * Setting the owner key over a link that loses a frame (issue 18, the link campaign's key
 * exchange): SET_RECIPIENT is sent again like any request, so a lost answer (the recorder took
 * the key) or a lost request ends with the key set and the app saying so, never with "stopped
 * answering" while the recorder holds it.
 */
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { describe, expect, test } from 'vitest';
import { setup } from '../testing/harness.js';
import { recipientBytes } from './recipient.js';

async function ownerRecipient(): Promise<string> {
  return identityToRecipient(await generateIdentity());
}

describe('recorder recipient set over a lossy link', () => {
  test('the answer to SET lost once: sent again, the key set and reported set', async () => {
    const h = setup();
    const recipient = await ownerRecipient();
    h.device.faults.dropResponse = ({ command, n }) => command === 'SET_RECIPIENT' && n === 1;
    const r = await h.engine.recipient({ set: recipient }, { library: h.dest });
    expect(r.recipient).toBe(recipient);
    expect(h.device.recipient?.equals(recipientBytes(recipient)!)).toBe(true);
    expect(h.of('error')).toEqual([]);
  });

  test('the answer to CLEAR lost twice: sent again, cleared and reported cleared', async () => {
    const h = setup();
    h.device.recipient = recipientBytes(await ownerRecipient());
    h.device.faults.dropResponse = ({ command, n }) => command === 'SET_RECIPIENT' && n <= 2;
    const r = await h.engine.recipient({ clear: true }, { library: h.dest });
    expect(r.recipient).toBeNull();
    expect(h.device.recipient).toBeNull();
  });
});
