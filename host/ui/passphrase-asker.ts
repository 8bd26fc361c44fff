/**
 * The interactive app's passphrase of a protected owner key (issue 18): Ink owns the terminal, so
 * the engine's request for it (a PassphraseSource) becomes a question the app shows in a masked
 * prompt (components/PassphrasePrompt.tsx). RECORDER_PASSPHRASE and --passphrase-file still come
 * first: the prompt shows only when they give none. A wrong passphrase is said and asked again; Esc
 * gives none (a sync then copies encrypted recordings without decrypting them, as without a key).
 * The passphrase is handed to the engine only: never kept in the app's state, an event or a log.
 */
import { passphraseOpens, type PassphraseSource } from '../engine/privacy/owner-keys.js';

/** What the prompt shows: which key, and whether the last passphrase typed was wrong. */
export interface PassphraseQuestion {
  file: string;
  recipient: string | null;
  wrong: boolean;
}

export class PassphraseAsker {
  private question: PassphraseQuestion | null = null;
  private reply: ((answer: string | null) => void) | null = null;
  private readonly listeners = new Set<(q: PassphraseQuestion | null) => void>();
  /** One question at a time: the engine may ask for several keys in turn. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opens: (file: string, passphrase: string) => Promise<boolean> = passphraseOpens) {}

  /** The engine's source: `first` (the environment or the file), else the prompt. */
  source(first?: PassphraseSource): PassphraseSource {
    return async (ask) => {
      const given = first ? await first(ask) : null;
      if (given !== null || ask.purpose !== 'unlock') return given;
      const turn = this.queue.then(() => this.askUntilRight(ask.file, ask.recipient));
      this.queue = turn.catch(() => undefined);
      return turn;
    };
  }

  /** The question showing now, or null. */
  current(): PassphraseQuestion | null {
    return this.question;
  }

  /** Calls `listener` whenever the question changes; returns the unsubscribe. */
  subscribe(listener: (q: PassphraseQuestion | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The person pressed Enter with this typed. */
  answer(passphrase: string): void {
    this.reply?.(passphrase);
  }

  /** The person pressed Esc: no passphrase. */
  cancel(): void {
    this.reply?.(null);
  }

  private show(q: PassphraseQuestion | null): void {
    this.question = q;
    for (const l of this.listeners) l(q);
  }

  private async askUntilRight(file: string, recipient: string | null): Promise<string | null> {
    let wrong = false;
    try {
      for (;;) {
        const answer = await new Promise<string | null>((resolve) => {
          this.reply = resolve;
          this.show({ file, recipient, wrong });
        });
        this.reply = null;
        if (answer === null) return null;
        if (answer !== '' && (await this.opens(file, answer))) return answer;
        wrong = true;
      }
    } finally {
      this.reply = null;
      this.show(null);
    }
  }
}
