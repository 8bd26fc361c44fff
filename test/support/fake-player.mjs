#!/usr/bin/env node
// A stand-in for a real audio player (ffplay, play, paplay...) in tests: it appends one JSON line
// to $FAKE_PLAYER_LOG with its pid and arguments, then stays alive like a player playing a long
// recording, until it is stopped (it logs the signal). FAKE_PLAYER_EXIT=N makes it end at once
// with status N instead, like a player reaching the end; FAKE_PLAYER_STDIN=1 makes it read its
// standard input to the end and log how many bytes came (the piped players, paplay and aplay).
import { appendFileSync } from 'node:fs';

const log = process.env.FAKE_PLAYER_LOG;
const write = (o) => {
  if (log) appendFileSync(log, JSON.stringify({ pid: process.pid, ...o }) + '\n');
};
write({ argv: process.argv.slice(2) });
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    write({ signal });
    process.exit(0);
  });
}
if (process.env.FAKE_PLAYER_STDIN === '1') {
  let bytes = 0;
  const chunks = [];
  process.stdin.on('data', (b) => {
    bytes += b.length;
    if (chunks.length < 4) chunks.push(b);
  });
  process.stdin.on('end', () => write({ stdinBytes: bytes, stdinHead: Buffer.concat(chunks).subarray(0, 8).toString('hex') }));
}
if (process.env.FAKE_PLAYER_EXIT !== undefined) {
  process.exit(Number(process.env.FAKE_PLAYER_EXIT));
}
// Alive until stopped; a hard limit in case a test forgets it.
setInterval(() => undefined, 1000);
setTimeout(() => {
  write({ signal: 'timeout' });
  process.exit(3);
}, Number(process.env.FAKE_PLAYER_LIFE_MS ?? 120_000));
