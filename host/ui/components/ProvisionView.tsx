/**
 * Provisioning a recorder for a family (issue 16), from its state alone: the form, then each
 * step as the engine reports it, then the fingerprint to write on the case and the hand-out.
 */

import { Box, Text } from 'ink';
import type { ProvisionStep } from '../../engine/events.js';
import { fingerprintText } from '../../engine/provision/handout.js';
import { FIELDS, type FieldName, type ProvisionUiState } from '../provision-state.js';

const FIELD_LABELS: Record<FieldName, string> = {
  loan: 'Loan code',
  label: 'Label',
  contact: 'Who to call',
  sampleRate: 'Sample rate',
  discreet: 'Discreet mode',
  buttonScheme: 'Button',
};

const STEP_TITLES: Record<ProvisionStep, string> = {
  check: 'Battery, recordings, loan',
  card: 'Card test',
  'owner-key': "Owner's key",
  label: 'Label',
  clock: 'Clock',
  settings: 'Settings',
  fingerprint: 'Fingerprint',
  loan: 'Loan',
  handout: 'Hand-out',
};

function fieldValue(s: ProvisionUiState, f: FieldName): string {
  const form = s.form;
  switch (f) {
    case 'loan':
      return form.loan;
    case 'label':
      return form.label || (form.loan ? `(the loan code: ${form.loan})` : '(the loan code)');
    case 'contact':
      return form.contact || '(your advocate)';
    case 'sampleRate':
      return `${form.sampleRate} Hz`;
    case 'discreet':
      return form.discreet ? 'on (the light stays off while recording)' : 'off';
    case 'buttonScheme':
      return form.buttonScheme === 'standard' ? 'standard (a press while recording marks)' : 'no markers (presses do nothing)';
  }
}

export function ProvisionView({ state, width = 80 }: { state: ProvisionUiState; width?: number }) {
  if (state.view === 'closed') return null;
  return (
    <Box borderStyle="round" borderColor="cyan" paddingX={1} width={width} flexDirection="column">
      <Text bold color="cyan">
        Set up this recorder for a family
      </Text>
      {state.view === 'form' ? (
        <>
          {FIELDS.map((f, i) => {
            const on = i === state.field;
            return (
              <Box key={f}>
                <Box width={16} flexShrink={0}>
                  <Text bold={on} color={on ? 'cyan' : undefined}>{`${on ? '›' : ' '} ${FIELD_LABELS[f]}`}</Text>
                </Box>
                <Text inverse={on && (f === 'loan' || f === 'label' || f === 'contact')}>{fieldValue(state, f)}</Text>
              </Box>
            );
          })}
          <Text dimColor>Use a neutral code from your loan register, never the family&apos;s name.</Text>
          {state.formProblem ? <Text color="red">{state.formProblem}</Text> : null}
          <Text>
            <Text bold>↑↓</Text> field{'   '}
            <Text bold>←→</Text> change{'   '}
            <Text bold>Enter</Text> set it up{'   '}
            <Text bold>Esc</Text> cancel
          </Text>
        </>
      ) : (
        <>
          {state.steps.map((s) => (
            <Text key={s.step} color={s.state === 'failed' ? 'red' : s.state === 'done' ? 'green' : undefined}>
              {`${s.state === 'done' ? '✓' : s.state === 'failed' ? '✗' : '…'} ${STEP_TITLES[s.step]}: ${s.message}`}
            </Text>
          ))}
          {state.warnings.map((w, i) => (
            <Text key={i} color="yellow">{`! ${w}`}</Text>
          ))}
          {state.error ? <Text color="red">{`${state.error.message} ${state.error.action}`.trim()}</Text> : null}
          {state.result?.ok && state.result.fingerprint ? (
            <Text bold>{`Write on the case: ${fingerprintText(state.result.fingerprint)}`}</Text>
          ) : null}
          {state.result ? <Text color={state.result.ok ? 'green' : 'red'}>{state.result.message}</Text> : null}
          {state.view === 'done' ? <Text dimColor>Press Enter or Esc to go back.</Text> : <Text dimColor>Setting it up… (keep it plugged in)</Text>}
        </>
      )}
    </Box>
  );
}
