/**
 * The masked passphrase prompt (issue 18): which owner key, a star for each character typed
 * (never the characters), the wrong-passphrase message, and the keys. From props alone: the typed
 * text itself stays in the app's input handler and goes only to the engine.
 */
import { Box, Text } from 'ink';

export interface PassphrasePromptProps {
  /** The protected key file. */
  file: string;
  recipient: string | null;
  /** The last passphrase typed did not open it. */
  wrong: boolean;
  /** How many characters are typed so far (shown as stars). */
  typedLength: number;
  width?: number;
}

export function PassphrasePrompt({ file, recipient, wrong, typedLength, width = 80 }: PassphrasePromptProps) {
  return (
    <Box borderStyle="double" borderColor="yellow" paddingX={1} width={width} flexDirection="column">
      <Text bold color="yellow">
        The owner key is protected by a passphrase
      </Text>
      <Text>{`To decrypt the encrypted recordings, type the passphrase of the owner key ${file}${recipient ? ` (${recipient.slice(0, 16)}…)` : ''}.`}</Text>
      {wrong ? <Text color="red">That passphrase is wrong (it is case-sensitive): nothing was decrypted. Type it again.</Text> : null}
      <Text>
        <Text bold>Passphrase: </Text>
        <Text>{'*'.repeat(typedLength)}</Text>
        <Text inverse> </Text>
      </Text>
      <Text>
        <Text bold>Enter</Text> open the key{'    '}
        <Text bold>Esc</Text> not now (encrypted recordings are copied, not decrypted)
      </Text>
    </Box>
  );
}
