// EXPERIMENT, not the app's behaviour: preloaded into the app (node --import) by
// `npm run bench -- --only retransmit` to measure what "fast retransmit" would gain on a noisy link.
//
// The device answers requests strictly in order (firmware/core/link/server.c), so when the answer
// to a request arrives, every READ sent before it that is still unanswered was lost (its request
// or its answer was damaged on the wire). The app today waits for its 2 s timeout before asking
// again; this patch asks again at once. It changes nothing in the app's files: it wraps
// ProtocolClient.onFrame of the built app (dist/) in this process only.
const { ProtocolClient } = await import(new URL('../dist/host/engine/client.js', import.meta.url).href);

const original = ProtocolClient.prototype.onFrame;
ProtocolClient.prototype.onFrame = function onFrame(f) {
  if ((f.kind === 1 || f.kind === 2) && f.seq !== 0 && this.pending.has(f.seq)) {
    // Map order is the order requests were sent (resends are added anew at the end).
    for (const [seq, p] of this.pending) {
      if (seq === f.seq) break;
      if (p.name !== 'READ') continue;
      this.pending.delete(seq);
      p.resolve('noise'); // as a lost try: the request loop sends it again with a new seq
    }
  }
  return original.call(this, f);
};
